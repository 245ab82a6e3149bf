-- One transaction: claims due deliveries of a dry-run route, records what
-- would have been delivered (kind, ref) and marks them decided. No gate, no
-- allowlist, no target: nothing leaves the database. Returns decisions made.
CREATE OR REPLACE FUNCTION fn_iu_worker_decide_batch(p_route_code text, p_limit integer) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route public.iu_outbound_route%ROWTYPE;
    v_count integer;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND OR NOT v_route.dry_run OR NOT v_route.enabled THEN
        RETURN 0;
    END IF;
    WITH cand AS (
        SELECT d.delivery_id
          FROM public.iu_delivery d
         WHERE d.route_code = p_route_code
           AND d.state IN ('pending', 'retrying', 'inflight')
           AND d.available_at <= now()
         ORDER BY d.available_at, d.event_seq
         LIMIT greatest(p_limit, 1)
           FOR UPDATE SKIP LOCKED
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state = 'decided', finished_at = now(), lease_owner = NULL, lease_token = NULL
          FROM cand
         WHERE d.delivery_id = cand.delivery_id
        RETURNING d.event_id
    ), ins AS (
        INSERT INTO public.iu_route_decision (route_code, event_ref, event_type, target_kind, target_ref)
        SELECT p_route_code, u.event_id, v_route.event_type, v_route.target_kind, v_route.target_ref
          FROM upd u
    )
    SELECT count(*) INTO v_count FROM upd;
    RETURN v_count;
END
$$;
