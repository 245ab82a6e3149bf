-- Named queries of the web console (iu_core.console) and of the metrics'
-- scrape-time gauges (iu_core.metrics). Reads for display only: every change
-- goes through the operator service layer.

-- metrics_gauges --
-- Everything the scrape-time gauges show, in one statement: the gate, and per
-- route its unfinished deliveries, the age of the oldest, open dead letters,
-- live and circuit. The counts come from the stream index's partial rows.
SELECT public.fn_iu_delivery_gate_open() AS gate_open,
       coalesce(jsonb_agg(jsonb_build_array(
                    r.route_code,
                    coalesce(b.pending, 0),
                    coalesce(extract(epoch FROM now() - b.oldest)::float8, 0),
                    (SELECT count(*) FROM public.iu_route_dead_letter l
                      WHERE l.route_code = r.route_code AND l.status = 'open'),
                    (NOT r.dry_run AND r.enabled),
                    coalesce(c.open_until > now(), false))
                ORDER BY r.route_code), '[]'::jsonb) AS routes
  FROM public.iu_outbound_route r
  LEFT JOIN public.iu_route_circuit c ON c.route_code = r.route_code
  LEFT JOIN LATERAL (
        SELECT count(*) AS pending, min(d.created_at) AS oldest
          FROM public.iu_delivery d
         WHERE d.route_code = r.route_code
           AND d.state IN ('pending', 'inflight', 'retrying', 'held')) b ON true

-- metrics_session --
-- The metrics connection's limits: a scrape never waits long behind a lock.
SELECT set_config('statement_timeout', %(statement_timeout)s, false),
       set_config('lock_timeout', %(lock_timeout)s, false)

-- user_add --
-- A new user and its audit row, in one statement (nothing when the name is taken).
WITH added AS (
    INSERT INTO public.iu_console_user (user_name, password_hash)
    VALUES (%(user_name)s, %(password_hash)s)
    ON CONFLICT (user_name) DO NOTHING
    RETURNING user_name, created_at
)
INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
SELECT coalesce(nullif(current_setting('iu_core.actor', true), ''), session_user::text),
       nullif(current_setting('iu_core.context', true), ''),
       'console_user', user_name, 'insert', NULL,
       jsonb_build_object('user_name', user_name, 'created_at', created_at)
  FROM added
RETURNING object_key

-- user_remove --
-- The user gone (its sessions with it) and the audit row, in one statement.
WITH removed AS (
    DELETE FROM public.iu_console_user WHERE user_name = %(user_name)s
    RETURNING user_name, created_at, last_login_at
)
INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
SELECT coalesce(nullif(current_setting('iu_core.actor', true), ''), session_user::text),
       nullif(current_setting('iu_core.context', true), ''),
       'console_user', user_name, 'delete',
       jsonb_build_object('user_name', user_name, 'created_at', created_at, 'last_login_at', last_login_at),
       NULL
  FROM removed
RETURNING object_key

-- user_passwd --
-- A new password hash; every session of the user ends (a new, never used epoch).
WITH changed AS (
    UPDATE public.iu_console_user
       SET password_hash = %(password_hash)s,
           session_epoch = nextval('public.iu_console_session_epoch_seq')
     WHERE user_name = %(user_name)s
    RETURNING user_name
)
INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
SELECT coalesce(nullif(current_setting('iu_core.actor', true), ''), session_user::text),
       nullif(current_setting('iu_core.context', true), ''),
       'console_user', user_name, 'update',
       jsonb_build_object('user_name', user_name),
       jsonb_build_object('user_name', user_name, 'password', 'changed', 'sessions', 'ended')
  FROM changed
RETURNING object_key

-- user_list --
SELECT user_name, created_at, last_login_at FROM public.iu_console_user ORDER BY user_name

-- user_get --
SELECT user_name, password_hash, session_epoch FROM public.iu_console_user WHERE user_name = %(user_name)s

-- user_epoch --
SELECT session_epoch FROM public.iu_console_user WHERE user_name = %(user_name)s

-- user_logged_in --
-- A successful login; a rehash (argon2 parameters changed) replaces the hash.
UPDATE public.iu_console_user
   SET last_login_at = now(), password_hash = coalesce(%(password_hash)s, password_hash)
 WHERE user_name = %(user_name)s

-- user_end_sessions --
-- A new epoch, never handed out before: every cookie issued so far is refused.
UPDATE public.iu_console_user
   SET session_epoch = nextval('public.iu_console_session_epoch_seq')
 WHERE user_name = %(user_name)s

-- chart --
-- Per minute of the last hour: attempts that reached their target, failed
-- attempts, and the worst lag of the minute (event written -> delivered).
SELECT m.minute,
       count(a.attempt_id) FILTER (WHERE a.status = 'sent') AS sent,
       count(a.attempt_id) FILTER (WHERE a.status = 'failed') AS failed,
       coalesce(max(extract(epoch FROM a.finished_at - o.occurred_at))
                FILTER (WHERE a.status = 'sent'), 0)::float8 AS lag_s
  FROM generate_series(date_trunc('minute', now()) - interval '59 minutes',
                       date_trunc('minute', now()), interval '1 minute') AS m(minute)
  LEFT JOIN public.iu_route_attempt a
         ON a.finished_at >= m.minute AND a.finished_at < m.minute + interval '1 minute'
  LEFT JOIN public.event_outbox o ON o.event_id = a.event_ref
 GROUP BY m.minute
 ORDER BY m.minute

-- delivery_counts --
-- Deliveries per state, for the overview's headline (all routes).
SELECT state, count(*) AS n FROM public.iu_delivery GROUP BY state ORDER BY state

-- deliveries --
-- Deliveries with filters; every state (sent and decided included), newest
-- first, a page at a time: the next page starts below the last id shown
-- (keyset, never OFFSET). An event's deliveries are found through the
-- (route_code, event_id) key of each route.
SELECT d.delivery_id, d.route_code, r.target_kind, d.event_id, d.event_seq, o.event_type,
       iu.code AS iu_code,
       CASE d.state WHEN 'decided' THEN 'dry-run' WHEN 'inflight' THEN 'in-flight' ELSE d.state END AS state,
       d.attempts, d.available_at, d.last_error, d.created_at, d.finished_at
  FROM public.iu_delivery d
  LEFT JOIN public.iu_outbound_route r ON r.route_code = d.route_code
  LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
  LEFT JOIN public.information_unit iu ON iu.iu_id = d.aggregate_id
 WHERE (%(route_code)s::text IS NULL OR d.route_code = %(route_code)s)
   AND (%(iu_code)s::text IS NULL OR iu.code = %(iu_code)s)
   AND (%(states)s::text[] IS NULL OR d.state = ANY (%(states)s::text[]))
   AND (%(since)s::timestamptz IS NULL OR d.created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR d.created_at < %(until)s)
   AND (%(event_id)s::uuid IS NULL
        OR (d.event_id = %(event_id)s
            AND d.route_code IN (SELECT route_code FROM public.iu_outbound_route
                                 UNION SELECT %(route_code)s::text WHERE %(route_code)s::text IS NOT NULL)))
   AND (%(delivery_id)s::bigint IS NULL OR d.delivery_id = %(delivery_id)s)
   AND (%(before)s::bigint IS NULL OR d.delivery_id < %(before)s)
 ORDER BY d.delivery_id DESC
 LIMIT %(limit)s

-- delivery_events --
-- What else happened to a delivery besides its attempts: dry-run decisions and
-- dead letters (made, replayed, discarded), for its timeline.
SELECT x.decided_at AS at, 'dry-run decision' AS what, x.decision AS status,
       x.target_kind || ' / ' || x.target_ref AS detail
  FROM public.iu_route_decision x
 WHERE x.route_code = %(route_code)s AND x.event_ref = %(event_id)s
UNION ALL
SELECT l.created_at, 'dead letter #' || l.dead_letter_id, 'dead', l.reason
  FROM public.iu_route_dead_letter l
 WHERE l.route_code = %(route_code)s AND l.event_ref = %(event_id)s
UNION ALL
SELECT l.resolved_at, 'dead letter #' || l.dead_letter_id || ' ' || l.status, l.status,
       coalesce(l.resolved_by, '') || ': ' || coalesce(l.resolution_note, '')
  FROM public.iu_route_dead_letter l
 WHERE l.route_code = %(route_code)s AND l.event_ref = %(event_id)s AND l.resolved_at IS NOT NULL
ORDER BY 1

-- route_attempts --
SELECT a.attempt_id, a.event_ref, a.attempt_no, a.status, a.started_at,
       extract(epoch FROM a.finished_at - a.started_at)::float8 * 1000 AS latency_ms,
       a.detail ->> 'http_status' AS http_status, a.detail ->> 'reason' AS reason,
       a.detail ->> 'consumer' AS consumer, d.delivery_id
  FROM public.iu_route_attempt a
  LEFT JOIN public.iu_delivery d ON d.route_code = a.route_code AND d.event_id = a.event_ref
 WHERE a.route_code = %(route_code)s
 ORDER BY a.attempt_id DESC
 LIMIT %(limit)s

-- route_decisions --
SELECT x.decision_id, x.event_ref, x.event_type, x.target_kind, x.target_ref, x.decision, x.decided_at,
       x.filter_source
  FROM public.iu_route_decision x
 WHERE x.route_code = %(route_code)s
 ORDER BY x.decision_id DESC
 LIMIT %(limit)s

-- delivery_event --
-- The event a delivery carries: its payload as written to the outbox.
SELECT o.event_id, o.event_type, o.occurred_at, o.payload
  FROM public.iu_delivery d
  JOIN public.event_outbox o ON o.event_id = d.event_id
 WHERE d.delivery_id = %(delivery_id)s

-- delivery_answers --
-- Each attempt of a delivery with everything its detail recorded: the
-- receiver's status, headers and the start of its body, or why it failed.
SELECT a.attempt_id, a.attempt_no, a.status, a.started_at, a.finished_at,
       extract(epoch FROM a.finished_at - a.started_at)::float8 * 1000 AS latency_ms,
       a.detail
  FROM public.iu_delivery d
  JOIN public.iu_route_attempt a ON a.route_code = d.route_code AND a.event_ref = d.event_id
 WHERE d.delivery_id = %(delivery_id)s
 ORDER BY a.attempt_no, a.attempt_id

-- dead_letters_page --
-- Dead letters with filters, newest first, a page at a time (keyset below
-- the last id shown), each with the delivery whose timeline it belongs to.
SELECT l.dead_letter_id, l.route_code, l.event_ref, o.event_type, l.reason, l.attempts, l.status,
       l.created_at, l.resolved_at, l.resolved_by, l.resolution_note, d.delivery_id
  FROM public.iu_route_dead_letter l
  LEFT JOIN public.event_outbox o ON o.event_id = l.event_ref
  LEFT JOIN public.iu_delivery d ON d.route_code = l.route_code AND d.event_id = l.event_ref
 WHERE (%(all_statuses)s OR l.status = 'open')
   AND (%(route_code)s::text IS NULL OR l.route_code = %(route_code)s)
   AND (%(event_id)s::uuid IS NULL OR l.event_ref = %(event_id)s)
   AND (%(since)s::timestamptz IS NULL OR l.created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR l.created_at < %(until)s)
   AND (%(before)s::bigint IS NULL OR l.dead_letter_id < %(before)s)
 ORDER BY l.dead_letter_id DESC
 LIMIT %(limit)s

-- dead_letters_open_count --
SELECT count(*) FROM public.iu_route_dead_letter WHERE status = 'open'

-- audit_page --
-- The operator audit with filters, newest first, a page at a time.
SELECT audit_id, changed_at, actor, context, object_type, object_key, action, before, after
  FROM public.iu_operator_audit
 WHERE (%(object_key)s::text IS NULL OR object_key = %(object_key)s)
   AND (%(object_type)s::text IS NULL OR object_type = %(object_type)s)
   AND (%(actor)s::text IS NULL OR actor = %(actor)s)
   AND (%(since)s::timestamptz IS NULL OR changed_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR changed_at < %(until)s)
   AND (%(before)s::bigint IS NULL OR audit_id < %(before)s)
 ORDER BY audit_id DESC
 LIMIT %(limit)s

-- audit_object_types --
SELECT DISTINCT object_type FROM public.iu_operator_audit ORDER BY 1

-- find --
-- What an id a person typed names: a delivery (its number, or its webhook-id
-- ROUTE:EVENT), an event's deliveries, an IU (code or id), a route.
SELECT 'delivery' AS kind, d.delivery_id::text AS target
  FROM public.iu_delivery d WHERE d.delivery_id = %(number)s
UNION ALL
SELECT 'delivery', d.delivery_id::text
  FROM public.iu_delivery d WHERE d.route_code = %(hook_route)s AND d.event_id = %(hook_event)s
UNION ALL
SELECT 'event', d.delivery_id::text
  FROM public.iu_outbound_route r
  JOIN public.iu_delivery d ON d.route_code = r.route_code AND d.event_id = %(uuid)s
UNION ALL
SELECT 'event', NULL FROM public.event_outbox o WHERE o.event_id = %(uuid)s
UNION ALL
SELECT 'unit', u.code FROM public.information_unit u WHERE u.code = %(text)s OR u.iu_id = %(uuid)s
UNION ALL
SELECT 'route', r.route_code FROM public.iu_outbound_route r WHERE r.route_code = %(text)s

-- route_health --
-- Per route, from the attempts that finished in the last hour and the last
-- day: how many, how many were sent and failed, and the median and 99th
-- percentile of their latency. One statement for the whole page (all routes,
-- or the one named).
SELECT a.route_code,
       count(*) FILTER (WHERE a.finished_at >= now() - interval '1 hour') AS hour_attempts,
       count(*) FILTER (WHERE a.finished_at >= now() - interval '1 hour' AND a.status = 'sent') AS hour_sent,
       count(*) FILTER (WHERE a.finished_at >= now() - interval '1 hour' AND a.status = 'failed') AS hour_failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000)
           FILTER (WHERE a.finished_at >= now() - interval '1 hour') AS hour_p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000)
           FILTER (WHERE a.finished_at >= now() - interval '1 hour') AS hour_p99_ms,
       count(*) AS day_attempts,
       count(*) FILTER (WHERE a.status = 'sent') AS day_sent,
       count(*) FILTER (WHERE a.status = 'failed') AS day_failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000)
           AS day_p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000)
           AS day_p99_ms
  FROM public.iu_route_attempt a
 WHERE a.finished_at >= now() - interval '1 day'
   AND (%(route_code)s::text IS NULL OR a.route_code = %(route_code)s)
 GROUP BY a.route_code
 ORDER BY a.route_code

-- alerts --
-- What every page warns of: a closed gate, and routes disabled (by an HTTP 410).
SELECT public.fn_iu_delivery_gate_open() AS gate_open,
       coalesce(array_agg(r.route_code ORDER BY r.route_code) FILTER (WHERE NOT r.enabled), '{}') AS disabled
  FROM public.iu_outbound_route r

-- delivery_open_dead_letter --
-- The open dead letter of a delivery, if it has one (what "resend" replays).
SELECT l.dead_letter_id
  FROM public.iu_delivery d
  JOIN public.iu_route_dead_letter l ON l.route_code = d.route_code AND l.event_ref = d.event_id
 WHERE d.delivery_id = %(delivery_id)s AND l.status = 'open'
 ORDER BY l.dead_letter_id DESC
 LIMIT 1

-- provision_history --
-- Every recorded state of one piece, oldest first, with the operation that made it.
SELECT h.history_seq, h.recorded_at, h.operation_id, o.operation_type, o.actor,
       h.kind, h.label, h.heading, h.text, h.status, h.eid, h.position, h.parent_piece_id
  FROM public.iu_piece_history h
  LEFT JOIN public.iu_structure_operation o ON o.operation_id = h.operation_id
 WHERE h.piece_id = %(piece_id)s
 ORDER BY h.history_seq

-- provision_deliveries --
-- The deliveries of the events that name one piece (an operation's pieces, a deprecation's piece), newest first.
SELECT d.delivery_id, d.route_code, d.state, d.attempts, e.event_type, e.occurred_at
  FROM public.iu_delivery d
  JOIN public.event_outbox e ON e.event_id = d.event_id
 WHERE d.aggregate_id = %(iu_id)s
   AND (e.payload -> 'pieces' ? %(piece)s OR e.payload ->> 'piece_id' = %(piece)s)
 ORDER BY d.delivery_id DESC
 LIMIT %(limit)s
