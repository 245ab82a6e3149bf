-- Enable or disable a route: the one guarded write of a route's switch, used
-- by the operator (`iu-core route enable|disable`), the worker on HTTP 410 and
-- the disabler of a route failing too long (both through fn_iu_route_disable).
-- The delivery guard refuses ANY update of a live route while the gate is
-- closed or the route is off the allowlist; then the route is also put back
-- into dry-run (always allowed): fail-closed, and the caller is told
-- (forced_dry_run). An unknown route raises IU004. Disabling a route that
-- was enabled writes an iu_route_disabled event (operational_events.sql).
CREATE OR REPLACE FUNCTION fn_iu_route_set_enabled(
    p_route_code text,
    p_enabled    boolean,
    p_reason     text,
    OUT route_code      text,
    OUT enabled         boolean,
    OUT disabled_reason text,
    OUT dry_run         boolean,
    OUT forced_dry_run  boolean
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_was_enabled boolean;
BEGIN
    forced_dry_run := false;
    SELECT r.enabled INTO v_was_enabled
      FROM public.iu_outbound_route r WHERE r.route_code = p_route_code FOR UPDATE;
    LOOP
        BEGIN
            UPDATE public.iu_outbound_route r
               SET enabled         = p_enabled,
                   disabled_reason = CASE WHEN p_enabled THEN NULL ELSE left(p_reason, 500) END,
                   dry_run         = r.dry_run OR forced_dry_run,
                   updated_at      = now()
             WHERE r.route_code = p_route_code
            RETURNING r.route_code, r.enabled, r.disabled_reason, r.dry_run
                 INTO route_code, enabled, disabled_reason, dry_run;
            EXIT;
        EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
            IF forced_dry_run THEN  -- the guard always allows dry-run: never refused twice
                RAISE;
            END IF;
            forced_dry_run := true;  -- refused while live: write it again, in dry-run
        END;
    END LOOP;
    IF route_code IS NULL THEN
        RAISE EXCEPTION 'unknown route %', p_route_code USING ERRCODE = 'IU004';
    END IF;
    IF v_was_enabled AND NOT p_enabled THEN
        PERFORM public.fn_iu_operational_route_event(
            'iu_route_disabled', route_code,
            jsonb_build_object('reason', disabled_reason, 'by', public.fn_iu_operator_actor()));
    END IF;
END
$$;

-- Disable a route (the worker's HTTP 410, a route failing too long): the
-- guarded write above, forced into dry-run when the guard refuses. Returns
-- whether it had to force dry-run.
CREATE OR REPLACE FUNCTION fn_iu_route_disable(p_route_code text, p_reason text) RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.forced_dry_run FROM public.fn_iu_route_set_enabled(p_route_code, false, p_reason) s
$$;
