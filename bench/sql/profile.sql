-- Where a live sql_function delivery spends its time: the same K events
-- projected by each layer of the delivery path, each timed in its own
-- transaction and rolled back (so every layer sees the same pending rows).
-- Parameters: %(k)s events, %(route)s the live structure route.

-- layer_set_based --
-- (a) the limit: one set-based INSERT ... SELECT.
INSERT INTO iu_tree_change_log
       (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
SELECT o.event_id, o.event_type, (o.payload ->> 'iu_id')::uuid, (o.payload ->> 'operation_id')::uuid,
       o.payload ->> 'operation_type', (o.payload ->> 'piece_id')::uuid, 'fn_iu_structure_consumer'
  FROM (SELECT * FROM event_outbox WHERE event_type = 'structure_op_applied'
         ORDER BY event_seq LIMIT %(k)s) o
ON CONFLICT (event_ref) DO NOTHING;

-- layer_set_based_audit --
-- (a') the limit the target is measured against: the same projection rows
-- plus what a worker must also write for them, set-based, in one statement:
-- one attempt row per delivery and the deliveries' new state (limit.sql's
-- three statements, for these K events of the route).
WITH o AS MATERIALIZED (
    SELECT * FROM event_outbox WHERE event_type = 'structure_op_applied'
     ORDER BY event_seq LIMIT %(k)s
), proj AS (
    INSERT INTO iu_tree_change_log
           (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
    SELECT o.event_id, o.event_type, (o.payload ->> 'iu_id')::uuid, (o.payload ->> 'operation_id')::uuid,
           o.payload ->> 'operation_type', (o.payload ->> 'piece_id')::uuid, 'fn_iu_structure_consumer'
      FROM o
    ON CONFLICT (event_ref) DO NOTHING
), att AS (
    INSERT INTO iu_route_attempt (route_code, event_ref, attempt_no, status, detail, started_at, finished_at)
    SELECT %(route)s, o.event_id, 1, 'sent',
           jsonb_build_object('consumer', 'fn_iu_structure_consumer', 'rows_added', 1),
           clock_timestamp(), clock_timestamp()
      FROM o
)
UPDATE iu_delivery d
   SET state = 'sent', attempts = 1, finished_at = now(), lease_owner = NULL, lease_token = NULL
  FROM o
 WHERE d.route_code = %(route)s AND d.event_id = o.event_id;

-- layer_consumer --
-- (b) the internal consumer called once per event (validation + insert).
SELECT count(fn_iu_structure_consumer(o.event_id, o.payload))
  FROM (SELECT * FROM event_outbox WHERE event_type = 'structure_op_applied'
         ORDER BY event_seq LIMIT %(k)s) o;

-- layer_route_deliver --
-- (c) the seam: fn_iu_route_deliver once per event (gate, route, allowlist,
-- consumer registry lookup, dynamic EXECUTE, then the consumer).
SELECT count(fn_iu_route_deliver(%(route)s, o.event_id, o.payload))
  FROM (SELECT * FROM event_outbox WHERE event_type = 'structure_op_applied'
         ORDER BY event_seq LIMIT %(k)s) o;

-- layer_worker_batch --
-- (d) the worker's whole batch: claim + (c) + attempts + states, one call.
SELECT sent FROM fn_iu_worker_deliver_sql_batch(%(route)s, %(k)s);
