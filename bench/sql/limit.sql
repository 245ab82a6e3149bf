-- The limit: what no worker can beat. One set-based statement projects every
-- structure event of the outbox at once, in one transaction.

-- limit_projection --
-- The projection alone: the same rows fn_iu_structure_consumer writes.
INSERT INTO iu_tree_change_log
       (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
SELECT o.event_id,
       o.event_type,
       (o.payload ->> 'iu_id')::uuid,
       (o.payload ->> 'operation_id')::uuid,
       o.payload ->> 'operation_type',
       (o.payload ->> 'piece_id')::uuid,
       'fn_iu_structure_consumer'
  FROM event_outbox o
 WHERE o.event_type IN ('structure_op_applied', 'structure_piece_deprecated')
 ORDER BY o.event_seq
ON CONFLICT (event_ref) DO NOTHING;

-- limit_attempts --
-- The audit a worker must also write: one attempt row per delivery, with the
-- detail fn_iu_route_deliver returns.
INSERT INTO iu_route_attempt (route_code, event_ref, attempt_no, status, detail, started_at, finished_at)
SELECT r.route_code,
       o.event_id,
       1,
       'sent',
       jsonb_build_object('consumer', 'fn_iu_structure_consumer', 'rows_added', 1),
       clock_timestamp(),
       clock_timestamp()
  FROM event_outbox o
  JOIN iu_outbound_route r ON r.event_type = o.event_type
 ORDER BY o.event_seq;

-- limit_delivery_state --
-- ... and the deliveries' new state, as fn_iu_worker_record writes it.
UPDATE iu_delivery
   SET state = 'sent', attempts = 1, finished_at = now(), lease_owner = NULL, lease_token = NULL
 WHERE state = 'pending';
