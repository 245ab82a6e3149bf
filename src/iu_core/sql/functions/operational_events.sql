-- Operational events: the worker's and the operator's own happenings, written
-- to event_outbox in the same transaction as the happening itself, so the
-- fan-out trigger routes them like any other event (same gate, allowlist and
-- dry-run rules). Each payload also carries schema_version, the version of its
-- type's schema (src/iu_core/events/schemas/<type>.json, docs/events.md):
--   iu_route_disabled  {route_code, reason, by}        a 410, failing too long, the operator
--   iu_circuit_opened  {route_code, failures, until}   a route's circuit opens
--   iu_circuit_closed  {route_code, failures, until}   a success closes it (until: null)
--   iu_dead_lettered   {route_code, dead_letter_id, event_id, reason, attempts}
--   iu_gate_opened / iu_gate_closed  {by}              the delivery gate changes
-- Events about a route carry aggregate_type 'iu_outbound_route' and an id
-- derived from its code; gate events 'dot_config' and an id derived from the key.
--
-- No loops: a route that carries operational events (its event_type is one of
-- the above) emits no iu_dead_lettered, iu_circuit_opened or iu_circuit_closed
-- about itself; otherwise a failing alert route would write an event that it
-- delivers, fails, and writes again without end. Its iu_route_disabled is
-- written (a route is disabled once, until an operator enables it again).

CREATE OR REPLACE FUNCTION fn_iu_operational_event_type(p_event_type text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_event_type IN ('iu_route_disabled', 'iu_circuit_opened', 'iu_circuit_closed',
                            'iu_dead_lettered', 'iu_gate_opened', 'iu_gate_closed')
$$;

-- Whether a happening of this route may write an operational event about it
-- (the loop rule above): false for a route that carries operational events,
-- or one that no longer exists.
CREATE OR REPLACE FUNCTION fn_iu_operational_route_emits(p_route_code text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT NOT public.fn_iu_operational_event_type(r.event_type)
                       FROM public.iu_outbound_route r WHERE r.route_code = p_route_code), false)
$$;

-- The outbox row of an event about a route.
CREATE OR REPLACE FUNCTION fn_iu_operational_route_event(p_event_type text, p_route_code text, p_payload jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO public.event_outbox (event_type, aggregate_type, aggregate_id, payload)
    VALUES (p_event_type, 'iu_outbound_route', md5('iu_outbound_route:' || p_route_code)::uuid,
            jsonb_build_object('route_code', p_route_code, 'schema_version', '1.0') || p_payload)
$$;

-- The delivery gate opened or closed (any write of its key: `iu-core gate`,
-- a macro, plain SQL). A write that leaves it as it was writes nothing, nor
-- does a transaction that sets iu_core.gate_events to 'off' (the delivery
-- macros, which open the gate and restore it before they commit).
CREATE OR REPLACE FUNCTION fn_iu_operational_gate_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_was boolean := false;
    v_now boolean := false;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.key = 'iu_core.delivery_enabled' THEN
        v_was := OLD.value = 'true'::jsonb;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.key = 'iu_core.delivery_enabled' THEN
        v_now := NEW.value = 'true'::jsonb;
    END IF;
    IF v_was IS DISTINCT FROM v_now
       AND current_setting('iu_core.gate_events', true) IS DISTINCT FROM 'off' THEN
        INSERT INTO public.event_outbox (event_type, aggregate_type, aggregate_id, payload)
        VALUES (CASE WHEN v_now THEN 'iu_gate_opened' ELSE 'iu_gate_closed' END,
                'dot_config', md5('dot_config:iu_core.delivery_enabled')::uuid,
                jsonb_build_object('schema_version', '1.0', 'by', public.fn_iu_operator_actor()));
    END IF;
    RETURN NULL;
END
$$;
