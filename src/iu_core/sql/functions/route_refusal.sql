-- May this route deliver now, and if not, why: the one answer every caller
-- uses (the SQL seam, the worker's batches, the route guard, the CLI and the
-- console). NULL reason: it may. Otherwise one row naming the reason, the
-- SQLSTATE a refusing caller raises, a message and a hint. The checks run in
-- this order, and the first that fails is the answer:
--
--   gate_closed      IU001  the delivery gate is closed
--   unknown_route    IU004  no such route (a NULL row)
--   disabled         IU008  the route is disabled (by an operator, a 410, or failing for too long)
--   not_allowlisted  IU002  the route is not on the live allowlist
--   dry_run          IU003  the route is still dry-run
--   circuit_open     IU009  the route's circuit breaker is open (cooling down)
--
-- The kind of the route's target is not judged here: SQL delivers only
-- sql_function (the seam raises 0A000 for the others), and which other kinds
-- are built is known to the Python worker's registry.
CREATE OR REPLACE FUNCTION fn_iu_route_refusal(p_route public.iu_outbound_route)
RETURNS TABLE (reason text, sqlstate text, message text, hint text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_gate       jsonb;
    v_allow      jsonb;
    v_open_until timestamptz;
    v_code       text := coalesce(quote_literal(p_route.route_code), '(null)');
BEGIN
    -- One statement reads both switches: this runs once per delivered event.
    -- The gate is open only on JSON true; anything but an array allows nothing.
    SELECT (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_enabled'),
           (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_live_routes')
      INTO v_gate, v_allow;

    IF v_gate IS DISTINCT FROM 'true'::jsonb THEN
        RETURN QUERY SELECT 'gate_closed', 'IU001',
            format('route %s: the delivery gate is closed', v_code), 'open the gate first (iu-core gate open)';
    ELSIF p_route.route_code IS NULL THEN
        RETURN QUERY SELECT 'unknown_route', 'IU004', 'unknown route', 'iu-core route list';
    ELSIF NOT p_route.enabled THEN
        RETURN QUERY SELECT 'disabled', 'IU008',
            format('route %s is disabled (%s)', v_code, coalesce(p_route.disabled_reason, 'no reason given')),
            'iu-core route enable ROUTE';
    ELSIF NOT (jsonb_typeof(v_allow) = 'array' AND v_allow @> jsonb_build_array(p_route.route_code)) THEN
        RETURN QUERY SELECT 'not_allowlisted', 'IU002',
            format('route %s is not on the live allowlist', v_code), 'iu-core allowlist add ROUTE';
    ELSIF p_route.dry_run THEN
        RETURN QUERY SELECT 'dry_run', 'IU003',
            format('route %s is still dry-run', v_code), 'iu-core route set ROUTE --live';
    ELSE
        SELECT c.open_until INTO v_open_until
          FROM public.iu_route_circuit c WHERE c.route_code = p_route.route_code;
        IF v_open_until > now() THEN
            RETURN QUERY SELECT 'circuit_open', 'IU009',
                format('route %s: the circuit is open until %s', v_code, v_open_until),
                'wait for the cool-down, or fix the target';
        END IF;
    END IF;
END
$$;

-- The same answer by route code, for callers that hold only the code.
CREATE OR REPLACE FUNCTION fn_iu_route_refusal_by_code(p_route_code text)
RETURNS TABLE (reason text, sqlstate text, message text, hint text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.reason, f.sqlstate,
           CASE WHEN f.reason = 'unknown_route'
                THEN format('unknown route %s', coalesce(quote_literal(p_route_code), '(null)'))
                ELSE f.message END,
           f.hint
      FROM public.fn_iu_route_refusal(
               (SELECT r FROM public.iu_outbound_route r WHERE r.route_code = p_route_code)) f
$$;

-- The SQLSTATEs that mean "this route may not deliver now" rather than "this
-- delivery failed": the refusals above and of fn_iu_route_deliver (0A000, a
-- kind SQL does not deliver). A caller that meets one pauses the route and
-- counts no attempt. The one list: the SQL batch and the Python seam target
-- both ask it.
CREATE OR REPLACE FUNCTION fn_iu_is_refusal(p_sqlstate text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_sqlstate IN ('IU001', 'IU002', 'IU003', 'IU004', 'IU008', '0A000')
$$;
