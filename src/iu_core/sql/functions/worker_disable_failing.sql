-- After a batch of outcomes is recorded: keep the start of the route's current
-- run of failures, and disable a route that has failed every attempt for its
-- disable_after_failing_hours (72 by default) with no success in between.
-- The clock starts again when the route is changed (updated_at, e.g. by
-- `iu-core route enable`), so an operator who brings a route back gets a full
-- window. The disable is audited as the worker's; if the delivery guard refuses
-- the update (gate closed meanwhile) the route is also put into dry-run, like
-- the 410 disable of fn_iu_worker_record. Returns the reason when it disabled.
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
    BEGIN
        UPDATE public.iu_outbound_route
           SET enabled = false, disabled_reason = left(v_reason, 500), updated_at = now()
         WHERE route_code = p_route_code;
    EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
        UPDATE public.iu_outbound_route
           SET enabled = false, dry_run = true, disabled_reason = left(v_reason, 500), updated_at = now()
         WHERE route_code = p_route_code;
    END;
    UPDATE public.iu_route_circuit SET failing_since = NULL WHERE route_code = p_route_code;
    RETURN v_reason;
END
$$;

-- Gives claimed-but-unsent deliveries back without counting an attempt (the
-- worker stopped sending to the route, e.g. right after an HTTP 410). Fenced by
-- the lease token like a result; the rows become due again at once, and a
-- disabled route simply does not claim them.
CREATE OR REPLACE FUNCTION fn_iu_worker_release(p_ids bigint[], p_leases uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET state = CASE WHEN d.attempts - 1 > 0 THEN 'retrying' ELSE 'pending' END,
           attempts = d.attempts - 1,
           lease_owner = NULL,
           lease_token = NULL,
           available_at = now()
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- Extends the leases of deliveries still in flight (one statement for many).
CREATE OR REPLACE FUNCTION fn_iu_worker_renew(p_ids bigint[], p_leases uuid[], p_lease_s numeric) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET available_at = now() + make_interval(secs => greatest(p_lease_s, 1)::float8)
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
