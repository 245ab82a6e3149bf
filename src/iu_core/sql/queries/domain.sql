-- Named queries of the knowledge domain (iu_core.domain). Each block: a
-- "-- name --" line, then one statement with %(name)s parameters.

-- ---------------------------------------------------------------------------
-- Units
-- ---------------------------------------------------------------------------

-- unit_by_code --
SELECT iu_id, code, title, body, status, created_at, updated_at
  FROM information_unit
 WHERE code = %(code)s

-- unit_by_id --
SELECT iu_id, code, title, body, status, created_at, updated_at
  FROM information_unit
 WHERE iu_id = %(iu_id)s

-- lock_unit --
-- Serialises every structure operation on one IU: the lock is held until the
-- operation's transaction ends; a second operation waits here, then reads
-- the tree as the first one left it (READ COMMITTED: each statement sees the
-- rows committed before it started).
SELECT iu_id, code, title, body, status, created_at, updated_at
  FROM information_unit
 WHERE iu_id = %(iu_id)s
   FOR UPDATE

-- lock_unit_by_code --
SELECT iu_id, code, title, body, status, created_at, updated_at
  FROM information_unit
 WHERE code = %(code)s
   FOR UPDATE

-- insert_unit --
-- ON CONFLICT: a concurrent ingest of the same new code returns no row
-- (the caller refuses) instead of aborting with a unique violation.
INSERT INTO information_unit (code, title, body)
VALUES (%(code)s, %(title)s, %(body)s)
ON CONFLICT (code) DO NOTHING
RETURNING iu_id, code, title, body, status, created_at, updated_at

-- update_unit_document --
UPDATE information_unit
   SET title = %(title)s, body = %(body)s, updated_at = now()
 WHERE iu_id = %(iu_id)s

-- touch_unit --
UPDATE information_unit SET updated_at = now() WHERE iu_id = %(iu_id)s

-- list_units --
SELECT u.iu_id, u.code, u.title, u.status, u.created_at, u.updated_at,
       count(p.piece_id) FILTER (WHERE p.status = 'active')     AS active_pieces,
       count(p.piece_id) FILTER (WHERE p.status = 'deprecated') AS deprecated_pieces,
       (SELECT count(*) FROM iu_structure_operation o WHERE o.iu_id = u.iu_id) AS operations
  FROM information_unit u
  LEFT JOIN iu_piece p ON p.iu_id = u.iu_id
 GROUP BY u.iu_id
 ORDER BY u.code

-- ---------------------------------------------------------------------------
-- Pieces
-- ---------------------------------------------------------------------------

-- pieces_of_unit --
SELECT piece_id, iu_id, parent_piece_id, position, kind, label, heading, text, status,
       created_by, deprecated_by, source, eid
  FROM iu_piece
 WHERE iu_id = %(iu_id)s
 ORDER BY parent_piece_id NULLS FIRST, position, created_at, piece_id

-- pieces_by_prefix --
-- A piece named on the command line by its id or a unique prefix of it.
SELECT piece_id, iu_id
  FROM iu_piece
 WHERE starts_with(piece_id::text, lower(%(prefix)s))
 LIMIT 2

-- insert_piece --
INSERT INTO iu_piece (piece_id, iu_id, parent_piece_id, position, kind, label, heading, text, created_by,
                      source, eid)
VALUES (%(piece_id)s, %(iu_id)s, %(parent_piece_id)s, %(position)s, %(kind)s, %(label)s,
        %(heading)s, %(text)s, %(created_by)s, %(source)s, %(eid)s)

-- update_piece --
-- Writes a piece's place and content; the operation decides what changed.
UPDATE iu_piece
   SET parent_piece_id = %(parent_piece_id)s, position = %(position)s, kind = %(kind)s,
       label = %(label)s, heading = %(heading)s, text = %(text)s, source = %(source)s,
       updated_at = now()
 WHERE piece_id = %(piece_id)s

-- set_positions --
-- Renumbers siblings in one statement; rows already in place are not touched.
UPDATE iu_piece AS p
   SET position = v.position, updated_at = now()
  FROM unnest(%(ids)s::uuid[], %(positions)s::integer[]) AS v (piece_id, position)
 WHERE p.piece_id = v.piece_id
   AND p.position <> v.position

-- deprecate_pieces --
UPDATE iu_piece
   SET status = 'deprecated',            -- active -> deprecated
       deprecated_by = %(operation_id)s,
       deprecated_at = now(),
       updated_at = now()
 WHERE piece_id = ANY (%(ids)s::uuid[])
   AND status = 'active'

-- restore_pieces --
UPDATE iu_piece
   SET status = 'active',                -- deprecated -> active
       deprecated_by = NULL,
       deprecated_at = NULL,
       updated_at = now()
 WHERE piece_id = ANY (%(ids)s::uuid[])
   AND status = 'deprecated'

-- set_eids --
-- Rewrites the legal identifiers of an IU's pieces in one statement (the
-- uniqueness among active pieces is checked when the transaction commits).
UPDATE iu_piece AS p
   SET eid = v.eid, updated_at = now()
  FROM unnest(%(ids)s::uuid[], %(eids)s::text[]) AS v (piece_id, eid)
 WHERE p.piece_id = v.piece_id
   AND p.eid IS DISTINCT FROM v.eid

-- record_piece_history --
-- After an operation: one history row for every piece of the IU whose state
-- differs from its newest history row (or that has none yet), stamped with
-- the operation's applied_at.
INSERT INTO iu_piece_history (operation_id, iu_id, piece_id, parent_piece_id, position, kind, label,
                              heading, text, status, eid, source, recorded_at)
SELECT %(operation_id)s, p.iu_id, p.piece_id, p.parent_piece_id, p.position, p.kind, p.label,
       p.heading, p.text, p.status, p.eid, p.source,
       (SELECT o.applied_at FROM iu_structure_operation o WHERE o.operation_id = %(operation_id)s)
  FROM iu_piece p
  LEFT JOIN LATERAL (
        SELECT h.parent_piece_id, h.position, h.kind, h.label, h.heading, h.text, h.status, h.eid,
               h.source
          FROM iu_piece_history h
         WHERE h.piece_id = p.piece_id
         ORDER BY h.history_seq DESC
         LIMIT 1) AS last ON true
 WHERE p.iu_id = %(iu_id)s
   AND (last.kind IS NULL
        OR (p.parent_piece_id, p.position, p.kind, p.label, p.heading, p.text, p.status, p.eid, p.source)
           IS DISTINCT FROM
           (last.parent_piece_id, last.position, last.kind, last.label, last.heading, last.text,
            last.status, last.eid, last.source))

-- pieces_as_of --
-- Every piece of an IU as it stood at an instant: its newest history row
-- recorded at or before it (pieces created later are absent).
SELECT DISTINCT ON (h.piece_id)
       h.piece_id, h.iu_id, h.parent_piece_id, h.position, h.kind, h.label, h.heading, h.text,
       h.status, NULL::uuid AS created_by, NULL::uuid AS deprecated_by, h.eid, h.source
  FROM iu_piece_history h
 WHERE h.iu_id = %(iu_id)s
   AND h.recorded_at <= %(as_of)s
 ORDER BY h.piece_id, h.history_seq DESC

-- check_sibling_positions --
-- Runs the deferred sibling-position check now, inside the operation
-- (switching to IMMEDIATE checks every pending change at once).
SET CONSTRAINTS iu_piece_active_sibling_position IMMEDIATE

-- defer_sibling_positions --
-- Back to deferred: the setting lasts for the whole transaction, and a caller
-- may run several operations in one transaction; each renumbers freely.
SET CONSTRAINTS iu_piece_active_sibling_position DEFERRED

-- ---------------------------------------------------------------------------
-- Operations and events
-- ---------------------------------------------------------------------------

-- insert_operation --
-- applied_at is the moment the operation runs, taken after the IU's lock: the
-- operations of one IU get increasing times in the order they were applied
-- (the transaction's start, now(), may be earlier than a rival's that applied
-- first), which the tree at an instant (pieces_as_of) relies on.
INSERT INTO iu_structure_operation (iu_id, operation_type, parameters, actor, applied_at)
VALUES (%(iu_id)s, %(operation_type)s, %(parameters)s, coalesce(%(actor)s, current_user),
        clock_timestamp())
RETURNING operation_id

-- finish_operation --
-- The outcome (pieces created, moved, deprecated …) joins the request's parameters.
UPDATE iu_structure_operation
   SET parameters = parameters || %(outcome)s
 WHERE operation_id = %(operation_id)s

-- operation_type_of --
SELECT operation_type FROM iu_structure_operation WHERE operation_id = %(operation_id)s

-- insert_event --
-- traceparent: the W3C context of the span writing the event (NULL when tracing is off).
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload, traceparent)
VALUES (%(event_type)s, 'information_unit', %(iu_id)s, %(payload)s, %(traceparent)s)
RETURNING event_id

-- list_operations --
SELECT o.operation_id, o.operation_seq, o.iu_id, u.code, o.operation_type, o.parameters,
       o.actor, o.applied_at
  FROM iu_structure_operation o
  JOIN information_unit u USING (iu_id)
 WHERE (%(code)s::text IS NULL OR u.code = %(code)s)
 ORDER BY o.operation_seq

-- list_events --
-- The newest events (up to the limit), optionally of one IU and/or one type, oldest first.
SELECT * FROM (
    SELECT e.event_id, e.event_seq, e.event_type, e.aggregate_type, e.aggregate_id,
           u.code, e.payload, e.occurred_at
      FROM event_outbox e
      LEFT JOIN information_unit u ON e.aggregate_type = 'information_unit' AND u.iu_id = e.aggregate_id
     WHERE (%(code)s::text IS NULL OR u.code = %(code)s)
       AND (%(event_type)s::text IS NULL OR e.event_type = %(event_type)s)
     ORDER BY e.event_seq DESC
     LIMIT %(limit)s
) AS newest
ORDER BY event_seq

-- ---------------------------------------------------------------------------
-- Relations
-- ---------------------------------------------------------------------------

-- insert_relation --
INSERT INTO iu_relation (from_iu_id, to_iu_id, relation_type, actor)
VALUES (%(from_iu_id)s, %(to_iu_id)s, %(relation_type)s, coalesce(%(actor)s, current_user))
ON CONFLICT (from_iu_id, to_iu_id, relation_type) DO NOTHING
RETURNING relation_id, created_at

-- delete_relation --
DELETE FROM iu_relation
 WHERE from_iu_id = %(from_iu_id)s AND to_iu_id = %(to_iu_id)s AND relation_type = %(relation_type)s
RETURNING relation_id

-- list_relations --
SELECT r.relation_id, f.code AS from_code, r.relation_type, t.code AS to_code, r.actor, r.created_at
  FROM iu_relation r
  JOIN information_unit f ON f.iu_id = r.from_iu_id
  JOIN information_unit t ON t.iu_id = r.to_iu_id
 WHERE (%(code)s::text IS NULL OR f.code = %(code)s OR t.code = %(code)s)
 ORDER BY f.code, r.relation_type, t.code

-- ---------------------------------------------------------------------------
-- Audit: events against the rows they describe
-- ---------------------------------------------------------------------------

-- operation_by_id --
SELECT operation_id, operation_seq, iu_id, operation_type, parameters, actor, applied_at
  FROM iu_structure_operation
 WHERE operation_id = %(operation_id)s

-- structure_events_of_unit --
SELECT event_id, event_seq, event_type, aggregate_type, aggregate_id, payload
  FROM event_outbox
 WHERE aggregate_id = %(iu_id)s
   AND event_type IN ('structure_op_applied', 'structure_piece_deprecated')
 ORDER BY event_seq

-- operations_of_unit --
SELECT operation_id, operation_seq, iu_id, operation_type, parameters, actor, applied_at
  FROM iu_structure_operation
 WHERE iu_id = %(iu_id)s
 ORDER BY operation_seq
