-- Benchmark data: well-formed structure events (payload per the
-- structure-event contract) written straight into event_outbox, set-based, and the routes
-- that deliver them. Parameters are bound by psycopg (%(name)s).

-- generate_events --
-- N events numbered offset+1 .. offset+n, round-robin over n_iu IUs (so a
-- batch in event_seq order touches many IUs, as a busy hub does); every fifth
-- is a structure_piece_deprecated (it also carries piece_id), the rest are
-- structure_op_applied. IU ids are deterministic (md5 of the IU number).
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
SELECT e.event_type,
       'information_unit',
       e.iu_id,
       jsonb_build_object(
           'iu_id', e.iu_id::text,
           'operation_id', e.operation_id::text,
           'operation_type', e.operation_type,
           'event_type', e.event_type,
           'pieces', jsonb_build_array(e.piece_id::text))
       || CASE WHEN e.event_type = 'structure_piece_deprecated'
               THEN jsonb_build_object('piece_id', e.piece_id::text)
               ELSE '{}'::jsonb END
  FROM (SELECT g.i,
               CASE WHEN mod(g.i, 5) = 0 THEN 'structure_piece_deprecated'
                    ELSE 'structure_op_applied' END                          AS event_type,
               md5('bench-iu-' || mod(g.i, %(n_iu)s::bigint))::uuid             AS iu_id,
               gen_random_uuid()                                              AS operation_id,
               gen_random_uuid()                                              AS piece_id,
               CASE WHEN mod(g.i, 5) = 0 THEN 'deprecate'
                    ELSE (ARRAY['split', 'merge', 'move', 'rename'])[1 + mod(g.i, 4)] END AS operation_type
          FROM generate_series(%(offset)s::bigint + 1, %(offset)s::bigint + %(n)s::bigint) AS g(i)) AS e
 ORDER BY e.i;

-- open_gate --
-- Gate open, both structure routes on the live allowlist.
UPDATE dot_config
   SET value = CASE key
                   WHEN 'iu_core.delivery_enabled' THEN 'true'::jsonb
                   ELSE '["structure_op_applied.workflow", "structure_piece_deprecated.workflow"]'::jsonb
               END
 WHERE key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes');

-- routes_live_sql --
-- Both seeded structure routes flipped live to the internal consumer (what
-- runtime/300 does for one transaction, here for the whole measurement).
UPDATE iu_outbound_route
   SET target_kind = 'sql_function',
       target_ref = 'fn_iu_structure_consumer',
       dry_run = false
 WHERE route_code IN ('structure_op_applied.workflow', 'structure_piece_deprecated.workflow');

-- routes_http --
-- Both structure routes live to the local HTTP receiver, loopback allowed.
UPDATE iu_outbound_route
   SET target_kind = 'external_endpoint',
       target_ref = %(url)s,
       allow_networks = '{127.0.0.0/8}'::cidr[],
       max_in_flight = %(max_in_flight)s,
       dry_run = false
 WHERE route_code IN ('structure_op_applied.workflow', 'structure_piece_deprecated.workflow');

-- route_secrets --
-- A Standard Webhooks signing secret for both HTTP routes, as `iu-core route
-- secret rotate` would store it (the bench generates it: whsec_ + base64).
INSERT INTO iu_route_credential (route_code, kind, secret, fingerprint)
SELECT r.route_code, 'webhook_secret', %(secret)s, %(fingerprint)s
  FROM iu_outbound_route r
 WHERE r.route_code IN ('structure_op_applied.workflow', 'structure_piece_deprecated.workflow');

-- count_events --
SELECT count(*) FROM event_outbox;

-- count_projection --
SELECT count(*) FROM iu_tree_change_log;

-- count_attempts --
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed
  FROM iu_route_attempt;

-- claim_explain --
-- The claim of fn_iu_worker_claim_rows (sql/functions/worker_ordering.sql), copied with
-- its parameters bound (route, batch, strict = true, heads_only = false), for
-- EXPLAIN ANALYZE only: the function's own plan is not visible from outside.
WITH cand AS MATERIALIZED (
    SELECT d.delivery_id, d.aggregate_id, d.event_seq
      FROM public.iu_delivery d
     WHERE d.route_code = %(route)s
       AND d.state IN ('pending', 'retrying', 'inflight')
       AND d.available_at <= now()
     ORDER BY d.available_at, d.event_seq
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), streams AS (
    SELECT c.aggregate_id, count(*) AS n FROM cand c GROUP BY c.aggregate_id
), firsts AS MATERIALIZED (
    SELECT e.delivery_id, e.aggregate_id, e.event_seq
      FROM streams s
      CROSS JOIN LATERAL (
            SELECT e.delivery_id, e.aggregate_id, e.event_seq
              FROM public.iu_delivery e
             WHERE e.route_code = %(route)s
               AND e.aggregate_id = s.aggregate_id
               AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
               AND (e.state <> 'dead' OR true)
             ORDER BY e.event_seq
             LIMIT s.n) e
), ranked AS (
    SELECT f.delivery_id, f.event_seq,
           bool_and(c.delivery_id IS NOT NULL) OVER w AS clear,
           row_number() OVER w AS pos
      FROM firsts f
      LEFT JOIN cand c ON c.delivery_id = f.delivery_id
    WINDOW w AS (PARTITION BY f.aggregate_id ORDER BY f.event_seq)
), ready_rows AS (
    SELECT r.delivery_id, r.event_seq FROM ranked r WHERE r.clear
)
SELECT coalesce((SELECT array_agg(x.delivery_id ORDER BY x.event_seq) FROM ready_rows x), '{}'),
       coalesce((SELECT array_agg(c.delivery_id ORDER BY c.event_seq) FROM cand c
                  WHERE c.delivery_id NOT IN (SELECT x.delivery_id FROM ready_rows x)), '{}')
