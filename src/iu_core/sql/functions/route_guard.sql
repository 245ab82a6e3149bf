-- The guard: a route may be live (dry_run = false) only while the gate is open
-- AND the route is on the allowlist. Checked on every insert and update, so a
-- live row can never be written in any other state. The answer comes from
-- fn_iu_route_refusal; only its gate and allowlist reasons concern the guard
-- (a disabled route may keep its mode), so the row is judged as if enabled.
CREATE OR REPLACE FUNCTION fn_iu_outbound_route_delivery_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row     public.iu_outbound_route%ROWTYPE;
    v_refusal record;
BEGIN
    IF NEW.dry_run IS DISTINCT FROM false THEN
        RETURN NEW;                      -- dry-run rows are always allowed
    END IF;
    v_row := NEW;
    v_row.enabled := true;
    SELECT * INTO v_refusal FROM public.fn_iu_route_refusal(v_row) f;
    IF v_refusal.reason IN ('gate_closed', 'not_allowlisted') THEN
        RAISE EXCEPTION USING
            MESSAGE = format('route %s cannot be live: %s', NEW.route_code,
                             CASE v_refusal.reason WHEN 'gate_closed' THEN 'the delivery gate is closed'
                                                   ELSE 'it is not on the live allowlist' END),
            ERRCODE = v_refusal.sqlstate,
            HINT = CASE v_refusal.reason WHEN 'gate_closed' THEN 'open the gate first (iu-core gate open)'
                                         ELSE 'add it first (iu-core allowlist add ROUTE)' END;
    END IF;
    RETURN NEW;
END
$$;
