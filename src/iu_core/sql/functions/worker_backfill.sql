-- Backfill: deliveries for a route's events that predate it (or all since a
-- time). Events that already have a delivery on the route are left alone.
CREATE OR REPLACE FUNCTION fn_iu_worker_backfill(p_route_code text, p_since timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event_type text;
    v_added integer;
BEGIN
    SELECT r.event_type INTO v_event_type FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', quote_literal(p_route_code) USING ERRCODE = 'IU004';
    END IF;
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT p_route_code, o.event_id, o.event_seq, o.aggregate_id
      FROM public.event_outbox o
     WHERE o.event_type = v_event_type
       AND (p_since IS NULL OR o.occurred_at >= p_since)
     ORDER BY o.event_seq
    ON CONFLICT (route_code, event_id) DO NOTHING;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    IF v_added > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_added;
END
$$;
