-- Backfill: deliveries for a route's events that predate it (or all since a
-- time). On a live route, events it saw only in dry-run (state decided) are
-- delivered now too: the decision said what it WOULD have done, and going
-- live is when that becomes real. Every other delivery is left alone.
-- Backfill never reaches before the retention horizon (fn_iu_retention_horizon):
-- an event older than it, or its delivery, may have been pruned, and delivering
-- it again could repeat a delivery already made. It says so with a NOTICE.
-- The route's CURRENT filter applies: an event it refuses now is not queued.
CREATE OR REPLACE FUNCTION fn_iu_worker_backfill(p_route_code text, p_since timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event_type  text;
    v_live        boolean;
    v_filter      jsonb;
    v_added       integer;
    v_horizon_at  timestamptz;
    v_horizon_seq bigint;
BEGIN
    SELECT r.event_type, NOT r.dry_run, r.filter_tree INTO v_event_type, v_live, v_filter
      FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', quote_literal(p_route_code) USING ERRCODE = 'IU004';
    END IF;
    SELECT h.horizon_at, h.horizon_seq INTO v_horizon_at, v_horizon_seq
      FROM public.fn_iu_retention_horizon() h;
    IF v_horizon_at IS NOT NULL AND (p_since IS NULL OR p_since < v_horizon_at) THEN
        RAISE NOTICE 'backfill starts at the retention horizon %: older history may have been pruned',
            v_horizon_at;
    END IF;
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT p_route_code, o.event_id, o.event_seq, o.aggregate_id
      FROM public.event_outbox o
     WHERE o.event_type = v_event_type
       AND (p_since IS NULL OR o.occurred_at >= p_since)
       AND (v_horizon_at IS NULL OR o.occurred_at >= v_horizon_at)
       AND o.event_seq > coalesce(v_horizon_seq, 0)
       AND (v_filter IS NULL OR public.fn_iu_route_filter_match(v_filter, o.aggregate_id, o.payload))
     ORDER BY o.event_seq
    ON CONFLICT (route_code, event_id) DO UPDATE
       SET state = 'pending', available_at = now(), finished_at = NULL, last_error = NULL
     WHERE public.iu_delivery.state = 'decided' AND v_live;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    IF v_added > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_added;
END
$$;
