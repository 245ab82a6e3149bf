-- The circuit of a route, after a batch of its outcomes: any success closes
-- it; failures count up and open it at the route's threshold for its
-- cool-down. Written only when something changes (a batch of successes on a
-- closed circuit writes nothing). An opening (from closed, or again after its
-- cool-down) writes iu_circuit_opened, a closing iu_circuit_closed, unless the
-- route carries operational events itself (the loop rule, operational_events.sql).
CREATE OR REPLACE FUNCTION fn_iu_worker_circuit_count(
    p_route     public.iu_outbound_route,
    p_successes integer,
    p_failures  integer,
    p_last_error text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_was_open  timestamptz;
    v_open      timestamptz;
    v_failures  integer;
BEGIN
    IF p_failures = 0 AND (p_successes = 0 OR NOT EXISTS (
            SELECT 1 FROM public.iu_route_circuit c
             WHERE c.route_code = p_route.route_code AND c.consecutive_failures > 0)) THEN
        RETURN;
    END IF;
    SELECT c.open_until INTO v_was_open
      FROM public.iu_route_circuit c WHERE c.route_code = p_route.route_code;
    INSERT INTO public.iu_route_circuit AS c (route_code, consecutive_failures, open_until, last_failure_at, last_error)
    VALUES (p_route.route_code, CASE WHEN p_successes > 0 THEN 0 ELSE p_failures END,
            CASE WHEN p_successes = 0 AND p_failures >= p_route.circuit_failure_threshold
                 THEN now() + make_interval(secs => p_route.circuit_cooldown_s) END,
            CASE WHEN p_failures > 0 THEN now() END,
            left(p_last_error, 500))
    ON CONFLICT (route_code) DO UPDATE
       SET consecutive_failures = CASE WHEN p_successes > 0 THEN 0
                                       ELSE c.consecutive_failures + p_failures END,
           open_until = CASE WHEN p_successes > 0 THEN NULL
                             WHEN c.consecutive_failures + p_failures >= p_route.circuit_failure_threshold
                             THEN now() + make_interval(secs => p_route.circuit_cooldown_s)
                             ELSE c.open_until END,
           last_failure_at = coalesce(EXCLUDED.last_failure_at, c.last_failure_at),
           last_error = coalesce(EXCLUDED.last_error, c.last_error),
           updated_at = now()
    RETURNING c.open_until, c.consecutive_failures INTO v_open, v_failures;
    IF (v_open IS NOT NULL AND (v_was_open IS NULL OR v_was_open <= now()))
       OR (v_open IS NULL AND v_was_open IS NOT NULL) THEN
        IF public.fn_iu_operational_route_emits(p_route.route_code) THEN
            PERFORM public.fn_iu_operational_route_event(
                CASE WHEN v_open IS NULL THEN 'iu_circuit_closed' ELSE 'iu_circuit_opened' END,
                p_route.route_code, jsonb_build_object('failures', v_failures, 'until', v_open));
        END IF;
    END IF;
END
$$;

-- After a batch of outcomes is recorded: keep the start of the route's current
-- run of failures, and disable a route that has failed every attempt for its
-- disable_after_failing_hours (72 by default) with no success in between.
-- The clock starts again when the route is changed (updated_at, e.g. by
-- `iu-core route enable`), so an operator who brings a route back gets a full
-- window. The disable is audited as the worker's and goes through
-- fn_iu_route_disable (dry-run forced if the guard refuses, as on HTTP 410).
-- Returns the reason when it disabled.
CREATE OR REPLACE FUNCTION fn_iu_worker_disable_failing(p_route_code text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_failures  integer;
    v_since     timestamptz;
    v_hours     numeric;
    v_updated   timestamptz;
    v_enabled   boolean;
    v_reason    text;
BEGIN
    SELECT c.consecutive_failures, c.failing_since INTO v_failures, v_since
      FROM public.iu_route_circuit c WHERE c.route_code = p_route_code;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_failures = 0 THEN
        IF v_since IS NOT NULL THEN
            UPDATE public.iu_route_circuit SET failing_since = NULL WHERE route_code = p_route_code;
        END IF;
        RETURN NULL;
    END IF;
    IF v_since IS NULL THEN
        UPDATE public.iu_route_circuit SET failing_since = now() WHERE route_code = p_route_code;
        RETURN NULL;
    END IF;
    SELECT r.disable_after_failing_hours, r.updated_at, r.enabled INTO v_hours, v_updated, v_enabled
      FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT coalesce(v_enabled, false)
       OR greatest(v_since, v_updated) > now() - make_interval(secs => (v_hours * 3600)::float8) THEN
        RETURN NULL;
    END IF;
    v_reason := format('disabled automatically: every attempt failed for %s hours with no success since %s '
                       '(iu-core route enable %s brings it back)',
                       trim(trailing '.' FROM trim(trailing '0' FROM v_hours::text)),
                       to_char(v_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), p_route_code);
    PERFORM pg_catalog.set_config('iu_core.actor', 'iu-core worker', true);
    PERFORM pg_catalog.set_config('iu_core.context', 'auto-disable: endpoint failing', true);
    PERFORM public.fn_iu_route_disable(p_route_code, v_reason);
    UPDATE public.iu_route_circuit SET failing_since = NULL WHERE route_code = p_route_code;
    RETURN v_reason;
END
$$;
