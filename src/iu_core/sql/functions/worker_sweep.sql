-- Safety net, run every few seconds by a worker: a held row whose stream has
-- no earlier unfinished delivery any more is released. (Covers a route whose
-- ordering policy changed from strict to relaxed, or a route switched to
-- dry-run, while rows were held.)
CREATE OR REPLACE FUNCTION fn_iu_worker_sweep() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_released integer;
BEGIN
    UPDATE public.iu_delivery h
       SET state = 'pending', available_at = least(h.available_at, now())  -- see fn_iu_worker_release_held
      FROM public.iu_outbound_route r
     WHERE h.state = 'held'
       AND r.route_code = h.route_code
       AND (r.dry_run
            OR NOT EXISTS (
                SELECT 1 FROM public.iu_delivery e
                 WHERE e.route_code = h.route_code
                   AND e.aggregate_id = h.aggregate_id
                   AND e.event_seq < h.event_seq
                   AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
                   AND (e.state <> 'dead' OR r.ordering_policy = 'strict')));
    GET DIAGNOSTICS v_released = ROW_COUNT;
    IF v_released > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_released;
END
$$;
