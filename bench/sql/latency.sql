-- Pickup latency: the observer LISTENs on iu_bench_delivered; this bench-only
-- trigger (installed in the measurement's own database, never in IU Core's
-- schema) notifies once per projected event, delivered when the worker's
-- transaction commits — the moment the delivery becomes visible.

-- install_observer --
CREATE FUNCTION iu_bench_notify_delivered() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM pg_notify('iu_bench_delivered', NEW.event_ref::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_iu_bench_notify_delivered
    AFTER INSERT ON iu_tree_change_log
    FOR EACH ROW EXECUTE FUNCTION iu_bench_notify_delivered();

-- produce --
-- K events in one transaction (same shape as events.generate_events), ids returned.
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
SELECT 'structure_op_applied', 'information_unit', e.iu_id,
       jsonb_build_object('iu_id', e.iu_id::text, 'operation_id', gen_random_uuid()::text,
                          'operation_type', 'move', 'event_type', 'structure_op_applied',
                          'pieces', jsonb_build_array(gen_random_uuid()::text))
  FROM (SELECT gen_random_uuid() AS iu_id FROM generate_series(1, %(k)s)) AS e
RETURNING event_id::text;
