-- Named queries of the operator service layer (iu_core.ops): gate, allowlist, routes,
-- secrets, dead letters, deliveries, status and audit.

-- set_actor --
-- Who and what the audit triggers record for this transaction (migration 005).
SELECT set_config('iu_core.actor', %(actor)s, true), set_config('iu_core.context', %(context)s, true)

-- get_config --
SELECT key, value FROM dot_config
 WHERE key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
   FOR UPDATE

-- gate_state --
SELECT fn_iu_delivery_gate_open() AS gate_open,
       coalesce((SELECT value FROM dot_config WHERE key = 'iu_core.delivery_live_routes'
                  AND jsonb_typeof(value) = 'array'), '[]'::jsonb) AS allowlist

-- set_config --
INSERT INTO dot_config (key, value, updated_at) VALUES (%(key)s, %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()

-- list_routes --
SELECT r.*, fn_iu_route_allowlisted(r.route_code) AS allowlisted,
       (SELECT k.public_key FROM iu_route_credential k
         WHERE k.route_code = r.route_code AND k.kind = 'signing_key' AND k.superseded_at IS NULL)
           AS signing_public_key
  FROM iu_outbound_route r
 ORDER BY r.route_code

-- get_route --
SELECT r.*, fn_iu_route_allowlisted(r.route_code) AS allowlisted,
       (SELECT k.public_key FROM iu_route_credential k
         WHERE k.route_code = r.route_code AND k.kind = 'signing_key' AND k.superseded_at IS NULL)
           AS signing_public_key
  FROM iu_outbound_route r
 WHERE r.route_code = %(route_code)s

-- existing_routes --
SELECT route_code FROM iu_outbound_route WHERE route_code = ANY(%(route_codes)s)

-- add_route --
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, filter_source, filter_tree)
VALUES (%(route_code)s, %(event_type)s, %(target_kind)s, %(target_ref)s,
        %(filter_source)s, %(filter_tree)s::jsonb)

-- remove_route --
DELETE FROM iu_outbound_route WHERE route_code = %(route_code)s RETURNING route_code

-- set_route --
-- Every policy column at once; a NULL parameter keeps the current value.
-- rate_limit_per_s and the filter are nullable, so each has its own "set it" flag.
UPDATE iu_outbound_route
   SET target_kind               = coalesce(%(target_kind)s, target_kind),
       target_ref                = coalesce(%(target_ref)s, target_ref),
       dry_run                   = coalesce(%(dry_run)s, dry_run),
       max_attempts              = coalesce(%(max_attempts)s, max_attempts),
       base_delay_ms             = coalesce(%(base_delay_ms)s, base_delay_ms),
       ordering_policy           = coalesce(%(ordering_policy)s, ordering_policy),
       allow_networks            = coalesce(%(allow_networks)s::cidr[], allow_networks),
       timeout_s                 = coalesce(%(timeout_s)s, timeout_s),
       connect_timeout_s         = coalesce(%(connect_timeout_s)s, connect_timeout_s),
       max_in_flight             = coalesce(%(max_in_flight)s, max_in_flight),
       rate_limit_per_s          = CASE WHEN %(set_rate_limit)s THEN %(rate_limit_per_s)s::numeric
                                        ELSE rate_limit_per_s END,
       circuit_failure_threshold = coalesce(%(circuit_failure_threshold)s, circuit_failure_threshold),
       circuit_cooldown_s        = coalesce(%(circuit_cooldown_s)s, circuit_cooldown_s),
       max_payload_bytes         = coalesce(%(max_payload_bytes)s, max_payload_bytes),
       disable_after_failing_hours = coalesce(%(disable_after_failing_hours)s::numeric,
                                              disable_after_failing_hours),
       signature                 = coalesce(%(signature)s, signature),
       filter_source             = CASE WHEN %(set_filter)s THEN %(filter_source)s::text
                                        ELSE filter_source END,
       filter_tree               = CASE WHEN %(set_filter)s THEN %(filter_tree)s::jsonb
                                        ELSE filter_tree END,
       updated_at                = now()
 WHERE route_code = %(route_code)s
RETURNING route_code

-- audit --
SELECT audit_id, changed_at, actor, context, object_type, object_key, action, before, after
  FROM iu_operator_audit
 WHERE (%(object_key)s::text IS NULL OR object_key = %(object_key)s)
 ORDER BY audit_id DESC
 LIMIT %(limit)s

-- route_kind --
SELECT route_code, target_kind FROM iu_outbound_route WHERE route_code = %(route_code)s

-- replace_credential --
SELECT fn_iu_route_credential_replace(
           %(route_code)s, %(kind)s, %(secret)s, %(fingerprint)s,
           make_interval(secs => %(window_s)s)) AS previous_valid_until

-- set_public_key --
-- The public key of the signing key fn_iu_route_credential_replace has just made current.
UPDATE iu_route_credential
   SET public_key = %(public_key)s
 WHERE route_code = %(route_code)s AND kind = 'signing_key' AND superseded_at IS NULL

-- public_keys --
-- What `route key public` shows: the public keys that verify now, current first.
SELECT public_key,
       fingerprint,
       created_at,
       superseded_at IS NULL AS current,
       valid_until
  FROM iu_route_credential
 WHERE route_code = %(route_code)s
   AND kind = 'signing_key'
   AND (superseded_at IS NULL OR valid_until > now())
 ORDER BY superseded_at NULLS FIRST, credential_id DESC

-- credential_fingerprints --
-- What `route secret show-fingerprint` shows: never the secret itself.
SELECT kind,
       fingerprint,
       created_at,
       superseded_at IS NULL AS current,
       valid_until,
       (superseded_at IS NULL OR valid_until > now()) AS active
  FROM iu_route_credential
 WHERE route_code = %(route_code)s
   AND kind = %(kind)s
 ORDER BY superseded_at NULLS FIRST, credential_id DESC

-- set_route_enabled --
SELECT * FROM fn_iu_route_set_enabled(%(route_code)s, %(enabled)s, %(reason)s)

-- backfill --
SELECT fn_iu_worker_backfill(%(route_code)s, %(since)s::timestamptz)

-- replay --
SELECT fn_iu_worker_replay(%(ids)s::bigint[], %(route_code)s::text, %(all)s::boolean, %(since)s::timestamptz,
                           %(by)s::text, %(note)s::text)

-- discard --
SELECT fn_iu_worker_discard(%(ids)s::bigint[], %(route_code)s::text, %(all)s::boolean, %(since)s::timestamptz,
                            %(by)s::text, %(note)s::text)

-- route_status --
-- Per route: its settings, circuit, and the counts of unfinished deliveries
-- (from the stream index) and open dead letters.
SELECT r.route_code, r.event_type, r.target_kind, r.target_ref, r.dry_run, r.enabled,
       r.disabled_reason, r.ordering_policy,
       fn_iu_route_allowlisted(r.route_code) AS allowlisted,
       coalesce(c.consecutive_failures, 0) AS consecutive_failures,
       c.open_until AS circuit_open_until,
       CASE WHEN c.open_until > now() THEN 'open'
            WHEN coalesce(c.consecutive_failures, 0) >= r.circuit_failure_threshold THEN 'half-open'
            ELSE 'closed' END AS circuit,
       coalesce(b.backlog, 0) AS backlog,
       coalesce(b.pending, 0) AS pending,
       coalesce(b.in_flight, 0) AS in_flight,
       coalesce(b.retrying, 0) AS retrying,
       coalesce(b.held, 0) AS held,
       -- lag: the age of the oldest event the route has not delivered (a backfill of
       -- old events shows their age, not the moment the backfill queued them)
       extract(epoch FROM now() - (SELECT o.occurred_at FROM event_outbox o
                                    WHERE o.event_type = r.event_type AND o.event_seq = b.oldest_seq))::float8
           AS lag_s,
       (SELECT count(*) FROM iu_route_dead_letter l
         WHERE l.route_code = r.route_code AND l.status = 'open') AS dead_letters
  FROM iu_outbound_route r
  LEFT JOIN iu_route_circuit c ON c.route_code = r.route_code
  LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE d.state <> 'dead') AS backlog,
               count(*) FILTER (WHERE d.state = 'pending') AS pending,
               count(*) FILTER (WHERE d.state = 'inflight') AS in_flight,
               count(*) FILTER (WHERE d.state = 'retrying') AS retrying,
               count(*) FILTER (WHERE d.state = 'held') AS held,
               min(d.event_seq) FILTER (WHERE d.state <> 'dead') AS oldest_seq
          FROM iu_delivery d
         WHERE d.route_code = r.route_code
           AND d.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')) b ON true
 ORDER BY r.route_code

-- deliveries --
-- Unfinished (and dry-run) deliveries, newest problems first within a route:
-- "what has not reached where, and why". States shown: pending, in-flight,
-- retrying, held, dead, dry-run (decided).
SELECT d.delivery_id, d.route_code, r.target_kind, r.target_ref, d.event_id, d.event_seq,
       o.event_type, d.aggregate_id AS iu_id, iu.code AS iu_code,
       CASE d.state WHEN 'decided' THEN 'dry-run' WHEN 'inflight' THEN 'in-flight' ELSE d.state END AS state,
       d.attempts,
       -- when it is tried next (pending, retrying) or its claim ends (in flight); a finished,
       -- held or dead delivery has no next attempt
       CASE WHEN d.state IN ('pending', 'retrying', 'inflight') THEN d.available_at END AS next_attempt_at,
       d.last_error, d.created_at, d.finished_at
  FROM iu_delivery d
  LEFT JOIN iu_outbound_route r ON r.route_code = d.route_code
  LEFT JOIN event_outbox o ON o.event_id = d.event_id
  LEFT JOIN information_unit iu ON iu.iu_id = d.aggregate_id
 WHERE d.state = ANY (%(states)s::text[])
   AND (%(route_code)s::text IS NULL OR d.route_code = %(route_code)s)
   AND (%(iu_code)s::text IS NULL OR iu.code = %(iu_code)s)
 ORDER BY d.route_code, d.event_seq
 LIMIT %(limit)s

-- dead_letters --
SELECT l.dead_letter_id, l.route_code, l.event_ref, o.event_type, o.aggregate_id AS iu_id,
       l.reason, l.attempts, l.status, l.created_at, l.resolved_at, l.resolved_by, l.resolution_note
  FROM iu_route_dead_letter l
  LEFT JOIN event_outbox o ON o.event_id = l.event_ref
 WHERE (%(all_statuses)s OR l.status = 'open')
   AND (%(route_code)s::text IS NULL OR l.route_code = %(route_code)s)
 ORDER BY l.dead_letter_id

-- dead_letter_ids --
SELECT dead_letter_id FROM iu_route_dead_letter WHERE dead_letter_id = ANY (%(ids)s::bigint[])

-- route_refusal --
-- The one answer to "may this route deliver now, and if not, why".
SELECT reason, sqlstate, message, hint FROM fn_iu_route_refusal_by_code(%(route_code)s)

-- route_in_flight --
SELECT count(*) FROM iu_delivery WHERE route_code = %(route_code)s AND state = 'inflight'

-- event_type_seen --
SELECT 1 FROM event_outbox WHERE event_type = %(event_type)s LIMIT 1

-- dead_letters_of_removed_routes --
-- Selected open dead letters whose route no longer exists (replay leaves them open).
SELECT count(*)
  FROM iu_route_dead_letter l
 WHERE l.dead_letter_id IN (SELECT fn_iu_dead_letter_selection(%(ids)s::bigint[], %(route_code)s::text,
                                                               %(all)s::boolean, %(since)s::timestamptz))
   AND NOT EXISTS (SELECT 1 FROM iu_outbound_route r WHERE r.route_code = l.route_code)

-- dead_letter_route_seen --
SELECT 1 WHERE EXISTS (SELECT 1 FROM iu_outbound_route WHERE route_code = %(route_code)s)
            OR EXISTS (SELECT 1 FROM iu_route_dead_letter WHERE route_code = %(route_code)s)

-- delivery --
SELECT d.delivery_id, d.route_code, r.target_kind, r.target_ref, d.event_id, d.event_seq,
       o.event_type, d.aggregate_id AS iu_id, iu.code AS iu_code,
       CASE d.state WHEN 'decided' THEN 'dry-run' WHEN 'inflight' THEN 'in-flight' ELSE d.state END AS state,
       d.attempts,
       -- when it is tried next (pending, retrying) or its claim ends (in flight); a finished,
       -- held or dead delivery has no next attempt
       CASE WHEN d.state IN ('pending', 'retrying', 'inflight') THEN d.available_at END AS next_attempt_at,
       d.last_error, d.created_at, d.finished_at
  FROM iu_delivery d
  LEFT JOIN iu_outbound_route r ON r.route_code = d.route_code
  LEFT JOIN event_outbox o ON o.event_id = d.event_id
  LEFT JOIN information_unit iu ON iu.iu_id = d.aggregate_id
 WHERE d.delivery_id = %(delivery_id)s

-- delivery_open_dead_letter --
-- The open dead letter of a delivery, if it has one (a resend replays it).
SELECT l.dead_letter_id
  FROM public.iu_delivery d
  JOIN public.iu_route_dead_letter l ON l.route_code = d.route_code AND l.event_ref = d.event_id
 WHERE d.delivery_id = %(delivery_id)s AND l.status = 'open'
 ORDER BY l.dead_letter_id DESC
 LIMIT 1

-- resend_delivery --
-- One finished delivery back to pending with a fresh attempt budget: the
-- worker takes it again by the normal path (gate, allowlist, ordering), and
-- its next attempt keeps counting. Nothing when it is no longer in a state
-- given (another worker or operator moved it meanwhile).
UPDATE public.iu_delivery d
   SET state = 'pending', budget_from = d.attempts, available_at = now(),
       last_error = NULL, finished_at = NULL, lease_owner = NULL, lease_token = NULL
 WHERE d.delivery_id = %(delivery_id)s AND d.state = ANY (%(states)s)
RETURNING d.route_code, d.event_id, d.attempts

-- notify_delivery --
SELECT pg_notify('iu_core_delivery', '')

-- delivery_attempts --
-- A delivery's attempts, oldest first: when, how it ended, how long it took,
-- and the start of what the target answered.
SELECT a.attempt_no, a.status, a.started_at, a.finished_at,
       round(extract(epoch FROM a.finished_at - a.started_at) * 1000)::bigint AS latency_ms,
       a.detail ->> 'http_status' AS http_status,
       left(coalesce(a.detail ->> 'reason', ''), 200) AS reason,
       left(coalesce(a.detail ->> 'response_body', a.detail ->> 'body', ''), 200) AS response_snippet
  FROM iu_delivery d
  JOIN iu_route_attempt a ON a.route_code = d.route_code AND a.event_ref = d.event_id
 WHERE d.delivery_id = %(delivery_id)s
 ORDER BY a.attempt_no, a.started_at

-- health_sessions --
-- The oldest open transaction and the oldest idle-in-transaction session of
-- this database (other than this one).
SELECT kind, pid, application_name, age_s FROM (
    SELECT 'transaction' AS kind, pid, application_name,
           extract(epoch FROM now() - xact_start)::float8 AS age_s
      FROM pg_stat_activity
     WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
     ORDER BY xact_start LIMIT 1) t
UNION ALL
SELECT kind, pid, application_name, age_s FROM (
    SELECT 'idle in transaction' AS kind, pid, application_name,
           extract(epoch FROM now() - state_change)::float8 AS age_s
      FROM pg_stat_activity
     WHERE datname = current_database() AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()
     ORDER BY state_change LIMIT 1) i

-- health_xids --
-- How far back the xmin horizon holds vacuum, and the distance to wraparound.
SELECT (SELECT max(age(backend_xmin)) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL) AS xmin_horizon_age,
       age(datfrozenxid) AS xid_age
  FROM pg_database WHERE datname = current_database()

-- health_tables --
SELECT relname AS table, n_live_tup, n_dead_tup, last_autovacuum, last_vacuum,
       pg_total_relation_size(relid) AS total_bytes
  FROM pg_stat_user_tables
 WHERE relname IN ('event_outbox', 'iu_delivery', 'iu_route_attempt', 'iu_route_decision', 'iu_route_dead_letter')
 ORDER BY relname

-- unit_tag --
INSERT INTO iu_unit_tag (iu_id, tag)
SELECT u.iu_id, t FROM information_unit u, unnest(%(tags)s::text[]) AS t
 WHERE u.code = %(code)s
ON CONFLICT (iu_id, tag) DO NOTHING
RETURNING tag

-- unit_untag --
DELETE FROM iu_unit_tag t
 USING information_unit u
 WHERE u.iu_id = t.iu_id AND u.code = %(code)s AND t.tag = ANY(%(tags)s::text[])
RETURNING t.tag

-- unit_tags --
SELECT t.tag FROM iu_unit_tag t JOIN information_unit u ON u.iu_id = t.iu_id
 WHERE u.code = %(code)s
 ORDER BY t.tag

-- unit_language --
SELECT u.language FROM information_unit u WHERE u.code = %(code)s
