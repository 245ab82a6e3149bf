-- The HTTP delivery benchmark (bench/http_bench.py): one live HTTP route,
-- structure_op_applied.workflow, to the bench's loopback receiver; the other
-- seeded route is disabled so every measured delivery goes through one route.

-- route_live --
UPDATE iu_outbound_route
   SET target_kind = %(kind)s,
       target_ref = %(url)s,
       allow_networks = '{127.0.0.0/8}'::cidr[],
       max_in_flight = %(max_in_flight)s,
       dry_run = false
 WHERE route_code = 'structure_op_applied.workflow';

-- other_route_off --
UPDATE iu_outbound_route SET enabled = false
 WHERE route_code = 'structure_piece_deprecated.workflow';

-- credential --
INSERT INTO iu_route_credential (route_code, kind, secret, fingerprint)
VALUES ('structure_op_applied.workflow', %(kind)s, %(secret)s, %(fingerprint)s);

-- load_events --
-- The events the route delivers, as the bare clients sign and send them.
SELECT o.event_id, o.event_type, o.occurred_at, o.payload
  FROM iu_delivery d
  JOIN event_outbox o ON o.event_id = d.event_id
 WHERE d.route_code = 'structure_op_applied.workflow'
 ORDER BY d.event_seq
 LIMIT %(n)s;

-- count_deliveries --
SELECT count(*) FROM iu_delivery WHERE route_code = 'structure_op_applied.workflow';

-- count_sent --
SELECT count(*) FROM iu_delivery WHERE route_code = 'structure_op_applied.workflow' AND state = 'sent';

-- count_attempts --
-- Attempts recorded on the route, and how many of them were sent (full audit).
SELECT count(*), count(*) FILTER (WHERE status = 'sent')
  FROM iu_route_attempt WHERE route_code = 'structure_op_applied.workflow';
