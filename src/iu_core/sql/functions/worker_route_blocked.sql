-- NULL when the route's deliveries may be claimed now, else why not. Checked
-- inside each batch's own transaction, so a gate closed a moment ago pauses
-- the next batch: nothing is claimed, dead-lettered or lost. Dry-run
-- decisions deliver nothing, so they need neither gate nor allowlist: only an
-- unknown or disabled route stops them. Everything else is the route's
-- refusal (fn_iu_route_refusal).
CREATE OR REPLACE FUNCTION fn_iu_worker_route_blocked(p_route public.iu_outbound_route) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_reason text;
BEGIN
    IF p_route.route_code IS NULL THEN
        RETURN 'unknown route';
    END IF;
    IF NOT p_route.enabled THEN
        RETURN 'disabled';
    END IF;
    IF p_route.dry_run THEN
        RETURN NULL;
    END IF;
    SELECT CASE f.reason WHEN 'gate_closed' THEN 'paused: the delivery gate is closed'
                         WHEN 'not_allowlisted' THEN 'paused: not on the live allowlist'
                         WHEN 'circuit_open' THEN 'circuit open'
                         ELSE f.reason END
      INTO v_reason
      FROM public.fn_iu_route_refusal(p_route) f;
    RETURN v_reason;
END
$$;

-- How many deliveries a batch may take: one probe while the circuit is half-open.
CREATE OR REPLACE FUNCTION fn_iu_worker_batch_limit(p_route public.iu_outbound_route, p_limit integer) RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN coalesce((SELECT c.consecutive_failures >= p_route.circuit_failure_threshold
                                 FROM public.iu_route_circuit c
                                WHERE c.route_code = p_route.route_code), false)
                THEN 1 ELSE greatest(p_limit, 1) END
$$;
