-- 004 — the delivery worker:
--   iu_delivery          one row per (route, event): the delivery's state machine
--   iu_route_decision    what a dry-run route would have delivered
--   iu_route_circuit     per-route circuit breaker state
--   fan-out trigger      event_outbox -> iu_delivery, in the event's own transaction
--   batch functions      dry-run decisions, live sql_function delivery, claims for
--                        the Python-dispatched kinds, recording of outcomes
--   operator functions   backfill, dead-letter replay / discard, held-row sweep
--
-- Wake-ups: every new due delivery, every change of a route and of dot_config
-- sends NOTIFY on channel 'iu_core_delivery'; workers LISTEN and poll as a
-- fallback.


-- ---------------------------------------------------------------------------
-- Deliveries
-- ---------------------------------------------------------------------------
-- The state machine of one delivery (route, event):
--
--   pending    due at available_at; waiting to be claimed
--   inflight   claimed by a worker that dispatches outside the database (HTTP
--              kinds); lease_token identifies the claim, available_at is the end
--              of the lease: when it passes, any worker may take the row over
--   retrying   the last attempt failed and may be retried at available_at
--              (exponential backoff with jitter, or the target's Retry-After)
--   held       waits behind an earlier unfinished delivery of the same IU on
--              the same route (the head is retrying, in flight or dead under a
--              strict policy); released to pending when the head finishes
--   sent       delivered (terminal)
--   skipped    a live route's target decided not to deliver (the workflow
--              no-op 'event_outbox': the event stays in the outbox) (terminal)
--   decided    a dry-run route recorded its decision in iu_route_decision (terminal)
--   dead       failed permanently or exhausted its attempts; an open row in
--              iu_route_dead_letter; under ordering_policy 'strict' it holds its
--              IU's later events on the route until replayed or discarded
--   discarded  its dead letter was discarded by an operator (terminal)
--
-- Transitions: pending|retrying -> inflight -> sent|skipped|retrying|dead
--              pending|retrying -> sent|skipped|retrying|dead   (sql_function, one transaction)
--              pending -> decided                                (dry-run)
--              pending|retrying -> held -> pending               (ordering)
--              dead -> pending (replay) | discarded (discard)
--
-- No foreign keys: a key check per inserted delivery would lock the route row
-- (FOR KEY SHARE) from every event-writing transaction at once. Deleting a
-- route deletes its deliveries (trigger below).
CREATE TABLE iu_delivery (
    delivery_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code   text NOT NULL,                 -- iu_outbound_route.route_code
    event_id     uuid NOT NULL,                 -- event_outbox.event_id (the event_ref)
    event_seq    bigint NOT NULL,               -- event_outbox.event_seq: order within an IU
    aggregate_id uuid NOT NULL,                 -- event_outbox.aggregate_id: the IU (ordering stream)
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'inflight', 'retrying', 'held', 'sent',
                                  'skipped', 'decided', 'dead', 'discarded')),
    attempts     integer NOT NULL DEFAULT 0,    -- attempts made so far (= last attempt_no)
    budget_from  integer NOT NULL DEFAULT 0,    -- attempts before the last replay: a replay grants
                                                -- max_attempts fresh attempts, attempt_no keeps counting
    available_at timestamptz NOT NULL DEFAULT now(),  -- due time; for inflight: the lease's end
    lease_owner  text,                          -- worker id holding the claim (inflight only)
    lease_token  uuid,                          -- fences late results of a lost lease (inflight only)
    last_error   text,                          -- one line, the last failure's reason
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,                   -- when it reached sent/skipped/decided/dead/discarded
    UNIQUE (route_code, event_id)
);
COMMENT ON TABLE iu_delivery IS 'One delivery per (route, event): state, attempts, lease. Written by the fan-out trigger.';

-- The claim index: only claimable rows, in due order. Claim time depends on the
-- batch size, not on the backlog, history or held rows (test_worker_claim_plan).
CREATE INDEX iu_delivery_claim_idx ON iu_delivery (route_code, available_at, event_seq)
    WHERE state IN ('pending', 'retrying', 'inflight');
-- Unfinished deliveries per ordering stream (route, IU): the "earlier event not
-- finished yet" checks and the operator's backlog counts.
CREATE INDEX iu_delivery_stream_idx ON iu_delivery (route_code, aggregate_id, event_seq)
    WHERE state IN ('pending', 'inflight', 'retrying', 'held', 'dead');
-- Held rows, to release the next one of a stream.
CREATE INDEX iu_delivery_held_idx ON iu_delivery (route_code, aggregate_id, event_seq)
    WHERE state = 'held';


-- ---------------------------------------------------------------------------
-- Dry-run decisions and circuit state
-- ---------------------------------------------------------------------------
CREATE TABLE iu_route_decision (
    decision_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code  text NOT NULL,
    event_ref   uuid NOT NULL,
    event_type  text NOT NULL,
    target_kind text NOT NULL,                 -- the kind it would have been delivered to
    target_ref  text NOT NULL,                 -- ... and the reference
    decision    text NOT NULL DEFAULT 'would_deliver',
    decided_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_route_decision IS 'Dry-run decisions: what a dry-run route would have delivered, and where.';
CREATE INDEX iu_route_decision_route_event_idx ON iu_route_decision (route_code, event_ref);

-- Circuit breaker per route: closed while consecutive_failures < threshold;
-- open (nothing claimed) until open_until; then half-open: one probe delivery
-- per batch closes it on success or opens it again on failure. Waiting events
-- keep their attempts while the circuit is open.
CREATE TABLE iu_route_circuit (
    route_code           text PRIMARY KEY,
    consecutive_failures integer NOT NULL DEFAULT 0,
    open_until           timestamptz,          -- NULL: closed
    last_failure_at      timestamptz,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_route_circuit IS 'Per-route circuit breaker: consecutive failures and the end of the cool-down.';


-- ---------------------------------------------------------------------------
-- Fan-out without gaps
-- ---------------------------------------------------------------------------
-- Why a trigger, and not a reader that follows event_seq: event_seq is taken
-- when a row is inserted, not when its transaction commits. A reader that
-- remembers "delivered up to seq 11" can pass over seq 10 whose transaction is
-- still open and commits a moment later: that event would be lost (the
-- sequence-gap problem). Here the delivery rows are inserted by the event's
-- own transaction, in the same statement's trigger: they become visible
-- exactly when the event commits, and vanish with it on rollback. There is no
-- position to remember, so there is no gap to fall into.
--
-- Statement-level with a transition table: one INSERT ... SELECT per
-- statement, however many events it inserted. Routes are those visible to the
-- inserting transaction: a route created later receives only later events
-- (iu-core route backfill for the older ones).
CREATE FUNCTION fn_iu_delivery_fan_out() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT r.route_code, e.event_id, e.event_seq, e.aggregate_id
      FROM new_events e
      JOIN public.iu_outbound_route r ON r.event_type = e.event_type
    ON CONFLICT (route_code, event_id) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('iu_core_delivery', '');  -- one per transaction (notifications merge)
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_event_outbox_fan_out
    AFTER INSERT ON event_outbox
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_fan_out();

-- A change of the gate, the allowlist or a route may make waiting work due.
CREATE FUNCTION fn_iu_delivery_wake() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM pg_notify('iu_core_delivery', 'config');  -- 'config': workers reload routes
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_dot_config_wake_worker
    AFTER INSERT OR UPDATE ON dot_config
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();
CREATE TRIGGER trg_iu_outbound_route_wake_worker
    AFTER INSERT OR UPDATE ON iu_outbound_route
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();

-- A removed route takes its deliveries and circuit with it.
CREATE FUNCTION fn_iu_delivery_route_removed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    DELETE FROM public.iu_delivery WHERE route_code = OLD.route_code;
    DELETE FROM public.iu_route_circuit WHERE route_code = OLD.route_code;
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_iu_outbound_route_removed
    AFTER DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_delivery_route_removed();


-- ---------------------------------------------------------------------------
-- Whether a route may be worked on now
-- ---------------------------------------------------------------------------
-- NULL when the route's deliveries may be claimed now, else why not. Checked
-- inside each batch's own transaction, so a gate closed a moment ago pauses
-- the next batch: nothing is claimed, dead-lettered or lost.
CREATE FUNCTION fn_iu_worker_route_blocked(p_route public.iu_outbound_route) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_open_until timestamptz;
BEGIN
    IF p_route.route_code IS NULL THEN
        RETURN 'unknown route';
    END IF;
    IF NOT p_route.enabled THEN
        RETURN 'disabled';
    END IF;
    IF p_route.dry_run THEN
        RETURN NULL;                       -- dry-run decisions need neither gate nor allowlist
    END IF;
    IF NOT public.fn_iu_delivery_gate_open() THEN
        RETURN 'paused: the delivery gate is closed';
    END IF;
    IF NOT public.fn_iu_route_allowlisted(p_route.route_code) THEN
        RETURN 'paused: not on the live allowlist';
    END IF;
    SELECT c.open_until INTO v_open_until
      FROM public.iu_route_circuit c WHERE c.route_code = p_route.route_code;
    IF v_open_until > now() THEN
        RETURN 'circuit open';
    END IF;
    RETURN NULL;
END
$$;

-- How many deliveries a batch may take: one probe while the circuit is half-open.
CREATE FUNCTION fn_iu_worker_batch_limit(p_route public.iu_outbound_route, p_limit integer) RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, public
AS $$
    SELECT CASE WHEN coalesce((SELECT c.consecutive_failures >= p_route.circuit_failure_threshold
                                 FROM public.iu_route_circuit c
                                WHERE c.route_code = p_route.route_code), false)
                THEN 1 ELSE greatest(p_limit, 1) END
$$;


-- ---------------------------------------------------------------------------
-- Ordering: releasing held rows
-- ---------------------------------------------------------------------------
-- Releases the earliest held delivery of each given IU on the route (one per
-- stream: it becomes the stream's next head; the rest stay held behind it).
CREATE FUNCTION fn_iu_worker_release_held(p_route_code text, p_aggregates uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_released integer;
BEGIN
    IF p_aggregates IS NULL OR cardinality(p_aggregates) = 0
       OR NOT EXISTS (SELECT 1 FROM public.iu_delivery h
                       WHERE h.route_code = p_route_code AND h.state = 'held') THEN
        RETURN 0;
    END IF;
    -- available_at keeps its original (earlier) value: the claim takes rows in
    -- (available_at, event_seq) order, and a released head must come before
    -- the still-pending later rows of its own and other streams. Stamped with
    -- now(), it would sort behind them, and a claim window filled with rows
    -- blocked behind pending heads would never reach the heads.
    UPDATE public.iu_delivery h
       SET state = 'pending', available_at = least(h.available_at, now())
      FROM (SELECT DISTINCT ON (e.aggregate_id) e.delivery_id
              FROM public.iu_delivery e
             WHERE e.route_code = p_route_code
               AND e.aggregate_id = ANY (p_aggregates)
               AND e.state = 'held'
             ORDER BY e.aggregate_id, e.event_seq) x
     WHERE h.delivery_id = x.delivery_id
       AND h.state = 'held';
    GET DIAGNOSTICS v_released = ROW_COUNT;
    IF v_released > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_released;
END
$$;

-- Puts claimed-but-blocked rows on hold. A row is held only behind an earlier
-- delivery of its stream in a lasting state (retrying, in flight, held, dead
-- under strict) that this transaction could lock FOR SHARE: whoever finishes
-- that blocker must update it, waits for this transaction, and then sees the
-- held rows it has to release. A blocker locked by someone else right now is
-- being finished: the blocked row simply stays pending for the next claim.
CREATE FUNCTION fn_iu_worker_hold(p_route_code text, p_blocked bigint[], p_strict boolean) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_held integer;
BEGIN
    IF p_blocked IS NULL OR cardinality(p_blocked) = 0 THEN
        RETURN 0;
    END IF;
    WITH blocked AS (
        SELECT d.delivery_id, d.aggregate_id, d.event_seq
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (p_blocked)
    ), first_blocker AS (
        -- per blocked stream, its earliest lasting delivery that we can lock
        SELECT s.aggregate_id, k.event_seq
          FROM (SELECT b.aggregate_id, max(b.event_seq) AS upto FROM blocked b GROUP BY b.aggregate_id) s
          CROSS JOIN LATERAL (
                SELECT e.event_seq
                  FROM public.iu_delivery e
                 WHERE e.route_code = p_route_code
                   AND e.aggregate_id = s.aggregate_id
                   AND e.event_seq < s.upto
                   AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
                   AND e.state <> 'pending'
                   AND (e.state <> 'dead' OR p_strict)
                   AND e.delivery_id <> ALL (p_blocked)
                 ORDER BY e.event_seq
                 LIMIT 1
                   FOR SHARE OF e SKIP LOCKED) k
    )
    UPDATE public.iu_delivery d
       SET state = 'held'
      FROM blocked b
      JOIN first_blocker f ON f.aggregate_id = b.aggregate_id AND f.event_seq < b.event_seq
     WHERE d.delivery_id = b.delivery_id
       AND d.state IN ('pending', 'retrying');
    GET DIAGNOSTICS v_held = ROW_COUNT;
    RETURN v_held;
END
$$;

-- Safety net, run every few seconds by a worker: a held row whose stream has
-- no earlier unfinished delivery any more is released. (Covers a route whose
-- ordering policy changed from strict to relaxed, or a route switched to
-- dry-run, while rows were held.)
CREATE FUNCTION fn_iu_worker_sweep() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
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


-- ---------------------------------------------------------------------------
-- Recording outcomes (every kind): attempts, states, retries, dead letters,
-- route disable, circuit — set-based, one call per batch
-- ---------------------------------------------------------------------------
-- p_lease_tokens: NULL entries for deliveries locked by the calling
-- transaction (sql_function); the claim's token for inflight deliveries. A
-- result whose token no longer matches (the lease expired and another worker
-- took the delivery over) is not recorded: it counts as 'fenced'.
--
-- Outcome -> new state:
--   sent                                            -> sent
--   skipped                                         -> skipped
--   failed, retryable, attempts left                -> retrying at now() + delay, where
--        delay = max(Retry-After, jittered backoff), backoff = min(max_delay, base * 2^(n-1)),
--        jittered uniformly in [backoff/2, backoff]
--   failed, permanent (retryable=false) or the last attempt -> dead + open dead letter
CREATE FUNCTION fn_iu_worker_record(
    p_route_code   text,
    p_ids          bigint[],
    p_attempt_nos  integer[],
    p_statuses     text[],
    p_details      jsonb[],
    p_started      timestamptz[],
    p_finished     timestamptz[],
    p_lease_tokens uuid[])
RETURNS TABLE (sent integer, skipped integer, retrying integer, dead integer, fenced integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_strict   boolean;
    v_sent     integer;
    v_skipped  integer;
    v_retrying integer;
    v_dead     integer;
    v_total    integer;
    v_release  uuid[];
    v_disable  text;
    v_failures integer;
    v_last_err text;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    v_strict := coalesce(v_route.ordering_policy, 'strict') = 'strict';

    WITH res AS (
        SELECT u.delivery_id, u.attempt_no, u.status, coalesce(u.detail, '{}'::jsonb) AS detail,
               u.started_at, u.finished_at, u.lease_token
          FROM unnest(p_ids, p_attempt_nos, p_statuses, p_details, p_started, p_finished, p_lease_tokens)
               AS u(delivery_id, attempt_no, status, detail, started_at, finished_at, lease_token)
    ), decided AS (
        SELECT res.*,
               CASE
                   WHEN res.status = 'sent' THEN 'sent'
                   WHEN res.status = 'skipped' THEN 'skipped'
                   WHEN coalesce((res.detail ->> 'retryable')::boolean, true)
                        AND res.attempt_no - d.budget_from < coalesce(v_route.max_attempts, 1) THEN 'retrying'
                   ELSE 'dead'
               END AS new_state
          FROM res
          JOIN public.iu_delivery d ON d.delivery_id = res.delivery_id
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state        = x.new_state,
               attempts     = x.attempt_no,
               available_at = CASE WHEN x.new_state = 'retrying' THEN
                   now() + make_interval(secs => greatest(
                       least(coalesce((x.detail ->> 'retry_after_s')::float8, 0), 86400),
                       least(v_route.max_delay_ms, v_route.base_delay_ms * power(2, least(x.attempt_no - d.budget_from, 60) - 1))
                           * (0.5 + random() * 0.5) / 1000.0))
                   ELSE d.available_at END,
               lease_owner  = NULL,
               lease_token  = NULL,
               last_error   = CASE WHEN x.status = 'failed'
                                   THEN left(coalesce(x.detail ->> 'reason', 'delivery failed'), 500)
                                   ELSE d.last_error END,
               finished_at  = CASE WHEN x.new_state IN ('sent', 'skipped', 'dead') THEN x.finished_at END
          FROM decided x
         WHERE d.delivery_id = x.delivery_id
           AND d.route_code = p_route_code
           -- Fence: only the holder of the current lease, or the transaction
           -- holding the row lock (NULL token), may record a result.
           AND (x.lease_token IS NULL
                OR (d.state = 'inflight' AND d.lease_token = x.lease_token))
           AND d.state IN ('pending', 'retrying', 'inflight', 'held')
        RETURNING d.delivery_id, d.event_id, d.aggregate_id, x.new_state, x.attempt_no, x.status,
                  x.detail, x.started_at, x.finished_at
    ), att AS (
        INSERT INTO public.iu_route_attempt (route_code, event_ref, attempt_no, status, detail, started_at, finished_at)
        SELECT p_route_code, u.event_id, u.attempt_no, u.status, u.detail, u.started_at, u.finished_at
          FROM upd u
    ), dl AS (
        INSERT INTO public.iu_route_dead_letter (route_code, event_ref, reason, attempts)
        SELECT p_route_code, u.event_id,
               left(coalesce(u.detail ->> 'reason', 'delivery failed'), 500)
                   || CASE WHEN coalesce((u.detail ->> 'retryable')::boolean, true)
                           THEN format(' (gave up after %s attempts)', u.attempt_no) ELSE '' END,
               u.attempt_no
          FROM upd u
         WHERE u.new_state = 'dead'
    )
    SELECT count(*) FILTER (WHERE u.new_state = 'sent'),
           count(*) FILTER (WHERE u.new_state = 'skipped'),
           count(*) FILTER (WHERE u.new_state = 'retrying'),
           count(*) FILTER (WHERE u.new_state = 'dead'),
           count(*),
           array_agg(DISTINCT u.aggregate_id)
               FILTER (WHERE u.new_state IN ('sent', 'skipped') OR (u.new_state = 'dead' AND NOT v_strict)),
           min(u.detail ->> 'reason') FILTER (WHERE coalesce((u.detail ->> 'disable_route')::boolean, false)),
           count(*) FILTER (WHERE u.status = 'failed'),
           max(u.detail ->> 'reason') FILTER (WHERE u.status = 'failed')
      INTO v_sent, v_skipped, v_retrying, v_dead, v_total, v_release, v_disable, v_failures, v_last_err
      FROM upd u;

    -- Ordering: a finished head lets the next held event of its IU go.
    PERFORM public.fn_iu_worker_release_held(p_route_code, v_release);

    -- A target that says the endpoint is gone (HTTP 410) disables the route;
    -- an operator must enable it again. If the guard refuses the update (the
    -- gate was closed or the allowlist changed meanwhile), the route is also
    -- put back into dry-run, which the guard always allows: fail-closed.
    IF v_disable IS NOT NULL AND v_route.route_code IS NOT NULL THEN
        BEGIN
            UPDATE public.iu_outbound_route
               SET enabled = false, disabled_reason = left(v_disable, 500), updated_at = now()
             WHERE route_code = p_route_code;
        EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
            UPDATE public.iu_outbound_route
               SET enabled = false, dry_run = true, disabled_reason = left(v_disable, 500), updated_at = now()
             WHERE route_code = p_route_code;
        END;
    END IF;

    -- Circuit: any success closes it; failures count up and open it at the
    -- route's threshold for its cool-down. Written only when something changes.
    IF v_failures > 0 OR (v_sent + v_skipped > 0 AND EXISTS (
            SELECT 1 FROM public.iu_route_circuit c
             WHERE c.route_code = p_route_code AND c.consecutive_failures > 0)) THEN
        INSERT INTO public.iu_route_circuit AS c (route_code, consecutive_failures, open_until, last_failure_at, last_error)
        VALUES (p_route_code, CASE WHEN v_sent + v_skipped > 0 THEN 0 ELSE v_failures END,
                CASE WHEN v_sent + v_skipped = 0 AND v_failures >= v_route.circuit_failure_threshold
                     THEN now() + make_interval(secs => v_route.circuit_cooldown_s) END,
                CASE WHEN v_failures > 0 THEN now() END,
                left(v_last_err, 500))
        ON CONFLICT (route_code) DO UPDATE
           SET consecutive_failures = CASE WHEN v_sent + v_skipped > 0 THEN 0
                                           ELSE c.consecutive_failures + v_failures END,
               open_until = CASE WHEN v_sent + v_skipped > 0 THEN NULL
                                 WHEN c.consecutive_failures + v_failures >= v_route.circuit_failure_threshold
                                 THEN now() + make_interval(secs => v_route.circuit_cooldown_s)
                                 ELSE c.open_until END,
               last_failure_at = coalesce(EXCLUDED.last_failure_at, c.last_failure_at),
               last_error = coalesce(EXCLUDED.last_error, c.last_error),
               updated_at = now();
    END IF;

    RETURN QUERY SELECT v_sent, v_skipped, v_retrying, v_dead, cardinality(p_ids) - v_total;
END
$$;


-- ---------------------------------------------------------------------------
-- Claiming
-- ---------------------------------------------------------------------------
-- Claims up to p_limit due deliveries of one route (FOR UPDATE SKIP LOCKED on
-- the claim index, so concurrent workers take disjoint rows) and splits them:
--   ready   no earlier unfinished delivery of the same IU on this route outside
--           the claimed set (p_heads_only: none at all, i.e. the stream's head)
--   blocked the rest: put on hold when their blocker lasts (fn_iu_worker_hold),
--           else left pending; their row locks end with this transaction.
-- The claimed rows stay locked by the calling transaction.
CREATE FUNCTION fn_iu_worker_claim_rows(
    p_route_code text, p_limit integer, p_strict boolean, p_heads_only boolean,
    OUT ready bigint[], OUT blocked bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    WITH cand AS MATERIALIZED (
        SELECT d.delivery_id, d.aggregate_id, d.event_seq
          FROM public.iu_delivery d
         WHERE d.route_code = p_route_code
           AND d.state IN ('pending', 'retrying', 'inflight')
           AND d.available_at <= now()
         ORDER BY d.available_at, d.event_seq
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), streams AS (
        SELECT c.aggregate_id, count(*) AS n FROM cand c GROUP BY c.aggregate_id
    ), firsts AS MATERIALIZED (
        -- MATERIALIZED: with large backlogs the planner otherwise pushes the join
        -- with cand into the LATERAL loop and rescans cand once per stream
        -- (batch-squared work: 89 ms instead of 17 ms per claim at 100k).
        -- The first n unfinished deliveries of each claimed stream, n = how many
        -- of its rows were claimed: if they are all ours, all ours are clear;
        -- ours after the first foreign one are blocked. One index range scan of
        -- at most n rows per stream (LATERAL: the claim costs the batch size,
        -- never the backlog).
        SELECT e.delivery_id, e.aggregate_id, e.event_seq
          FROM streams s
          CROSS JOIN LATERAL (
                SELECT e.delivery_id, e.aggregate_id, e.event_seq
                  FROM public.iu_delivery e
                 WHERE e.route_code = p_route_code
                   AND e.aggregate_id = s.aggregate_id
                   AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
                   AND (e.state <> 'dead' OR p_strict)
                 ORDER BY e.event_seq
                 LIMIT s.n) e
    ), ranked AS (
        SELECT f.delivery_id, f.event_seq,
               bool_and(c.delivery_id IS NOT NULL) OVER w AS clear,  -- nothing foreign before it
               row_number() OVER w AS pos                            -- 1 = the stream's head
          FROM firsts f
          LEFT JOIN cand c ON c.delivery_id = f.delivery_id
        WINDOW w AS (PARTITION BY f.aggregate_id ORDER BY f.event_seq)
    ), ready_rows AS (
        SELECT r.delivery_id, r.event_seq FROM ranked r
         WHERE r.clear AND (r.pos = 1 OR NOT p_heads_only)
    )
    SELECT coalesce((SELECT array_agg(x.delivery_id ORDER BY x.event_seq) FROM ready_rows x), '{}'),
           coalesce((SELECT array_agg(c.delivery_id ORDER BY c.event_seq) FROM cand c
                      WHERE c.delivery_id NOT IN (SELECT x.delivery_id FROM ready_rows x)), '{}')
      INTO ready, blocked;
    PERFORM public.fn_iu_worker_hold(p_route_code, blocked, p_strict);
END
$$;


-- ---------------------------------------------------------------------------
-- Dry-run routes: decisions
-- ---------------------------------------------------------------------------
-- One transaction: claims due deliveries of a dry-run route, records what
-- would have been delivered (kind, ref) and marks them decided. No gate, no
-- allowlist, no target: nothing leaves the database. Returns decisions made.
CREATE FUNCTION fn_iu_worker_decide_batch(p_route_code text, p_limit integer) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_route public.iu_outbound_route%ROWTYPE;
    v_count integer;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND OR NOT v_route.dry_run OR NOT v_route.enabled THEN
        RETURN 0;
    END IF;
    WITH cand AS (
        SELECT d.delivery_id
          FROM public.iu_delivery d
         WHERE d.route_code = p_route_code
           AND d.state IN ('pending', 'retrying', 'inflight')
           AND d.available_at <= now()
         ORDER BY d.available_at, d.event_seq
         LIMIT greatest(p_limit, 1)
           FOR UPDATE SKIP LOCKED
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state = 'decided', finished_at = now(), lease_owner = NULL, lease_token = NULL
          FROM cand
         WHERE d.delivery_id = cand.delivery_id
        RETURNING d.event_id
    ), ins AS (
        INSERT INTO public.iu_route_decision (route_code, event_ref, event_type, target_kind, target_ref)
        SELECT p_route_code, u.event_id, v_route.event_type, v_route.target_kind, v_route.target_ref
          FROM upd u
    )
    SELECT count(*) INTO v_count FROM upd;
    RETURN v_count;
END
$$;


-- ---------------------------------------------------------------------------
-- Live sql_function routes: the whole batch in one transaction
-- ---------------------------------------------------------------------------
-- Claims, delivers through fn_iu_route_deliver in event_seq order, writes the
-- attempt rows and the deliveries' new states, all in the caller's single
-- transaction: the projection row, the attempt and the state commit together
-- or not at all, so a worker killed at any instant leaves either the whole
-- batch done or nothing (exactly-once effect; rows locked, no lease needed).
--
-- Fast path: the whole loop in one exception block (one subtransaction).
-- When any delivery raises, the block rolls back and the batch runs again one
-- event at a time, each in its own block, so one bad event fails alone: later
-- events of its IU in the batch are left for later (they will wait behind it),
-- other IUs go on. A refusal of the seam (gate closed, not allowlisted,
-- dry-run, disabled, kind changed) stops the batch: the rest stays pending.
--
-- Failures: IU006 (malformed payload) and data/integrity errors (22xxx, 23xxx)
-- are permanent; anything else (IU005 an unregistered consumer, a deadlock, ...)
-- is retried with backoff.
CREATE FUNCTION fn_iu_worker_deliver_sql_batch(p_route_code text, p_limit integer)
RETURNS TABLE (claimed integer, sent integer, retrying integer, dead integer, blocked integer, paused text)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_reason   text;
    v_ready    bigint[];
    v_blocked  bigint[];
    v_ids      bigint[] := '{}';
    v_nos      integer[] := '{}';
    v_statuses text[] := '{}';
    v_details  jsonb[] := '{}';
    v_started  timestamptz[] := '{}';
    v_finished timestamptz[] := '{}';
    v_failed_streams uuid[] := '{}';
    v_rec      record;
    v_t0       timestamptz;
    v_result   jsonb;
    v_state    text;
    v_msg      text;
    v_paused   text;
    v_out      record;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    v_reason := public.fn_iu_worker_route_blocked(v_route);
    IF v_reason IS NULL AND (v_route.dry_run OR v_route.target_kind <> 'sql_function') THEN
        v_reason := 'not a live sql_function route';
    END IF;
    IF v_reason IS NOT NULL THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, v_reason;
        RETURN;
    END IF;

    SELECT c.ready, c.blocked INTO v_ready, v_blocked
      FROM public.fn_iu_worker_claim_rows(p_route_code,
               public.fn_iu_worker_batch_limit(v_route, p_limit),
               v_route.ordering_policy = 'strict', false) c;
    IF cardinality(v_ready) = 0 THEN
        RETURN QUERY SELECT cardinality(v_blocked), 0, 0, 0, cardinality(v_blocked), NULL::text;
        RETURN;
    END IF;

    BEGIN  -- fast path
        FOR v_rec IN
            SELECT d.delivery_id, d.event_id, d.attempts, o.payload
              FROM unnest(v_ready) WITH ORDINALITY AS u(id, ord)
              JOIN public.iu_delivery d ON d.delivery_id = u.id
              LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
             ORDER BY u.ord
        LOOP
            v_t0 := clock_timestamp();
            v_result := public.fn_iu_route_deliver(p_route_code, v_rec.event_id, v_rec.payload);
            v_ids := array_append(v_ids, v_rec.delivery_id);
            v_nos := array_append(v_nos, v_rec.attempts + 1);
            v_statuses := array_append(v_statuses, 'sent'::text);
            v_details := array_append(v_details, v_result -> 'detail');
            v_started := array_append(v_started, v_t0);
            v_finished := array_append(v_finished, clock_timestamp());
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        v_ids := '{}'; v_nos := '{}'; v_statuses := '{}'; v_details := '{}';
        v_started := '{}'; v_finished := '{}';
        -- slow path: one event per subtransaction
        FOR v_rec IN
            SELECT d.delivery_id, d.event_id, d.attempts, d.aggregate_id, o.payload
              FROM unnest(v_ready) WITH ORDINALITY AS u(id, ord)
              JOIN public.iu_delivery d ON d.delivery_id = u.id
              LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
             ORDER BY u.ord
        LOOP
            CONTINUE WHEN v_rec.aggregate_id = ANY (v_failed_streams);  -- its IU failed earlier in this batch
            v_t0 := clock_timestamp();
            BEGIN
                IF v_rec.payload IS NULL THEN
                    RAISE EXCEPTION 'event % is no longer in event_outbox', v_rec.event_id
                        USING ERRCODE = 'IU006';
                END IF;
                v_result := public.fn_iu_route_deliver(p_route_code, v_rec.event_id, v_rec.payload);
                v_ids := array_append(v_ids, v_rec.delivery_id);
                v_nos := array_append(v_nos, v_rec.attempts + 1);
                v_statuses := array_append(v_statuses, 'sent'::text);
                v_details := array_append(v_details, v_result -> 'detail');
                v_started := array_append(v_started, v_t0);
                v_finished := array_append(v_finished, clock_timestamp());
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF v_state IN ('IU001', 'IU002', 'IU003', 'IU004', 'IU008', '0A000') THEN
                    v_paused := 'paused: ' || v_msg;
                    EXIT;
                END IF;
                v_failed_streams := array_append(v_failed_streams, v_rec.aggregate_id);
                v_ids := array_append(v_ids, v_rec.delivery_id);
                v_nos := array_append(v_nos, v_rec.attempts + 1);
                v_statuses := array_append(v_statuses, 'failed'::text);
                v_details := array_append(v_details, jsonb_build_object(
                    'reason', v_msg,
                    'sqlstate', v_state,
                    'retryable', NOT (v_state = 'IU006' OR left(v_state, 2) IN ('22', '23'))));
                v_started := array_append(v_started, v_t0);
                v_finished := array_append(v_finished, clock_timestamp());
            END;
        END LOOP;
    END;

    SELECT * INTO v_out
      FROM public.fn_iu_worker_record(p_route_code, v_ids, v_nos, v_statuses, v_details,
                                      v_started, v_finished, array_fill(NULL::uuid, ARRAY[cardinality(v_ids)]));
    RETURN QUERY SELECT cardinality(v_ready) + cardinality(v_blocked), v_out.sent, v_out.retrying,
                        v_out.dead, cardinality(v_blocked), v_paused;
END
$$;


-- ---------------------------------------------------------------------------
-- Other live kinds: claims with a lease, dispatched by the Python worker
-- ---------------------------------------------------------------------------
-- Claims the heads of up to p_limit streams (only the head event of an IU is
-- ever in flight on a route) and leases them for p_lease_s seconds under a
-- fresh token. A delivery whose previous lease expired (its worker died) gets
-- a failed attempt row for the lost attempt first; if that was its last
-- attempt it goes to the dead-letter queue instead of being claimed again.
CREATE FUNCTION fn_iu_worker_claim(p_route_code text, p_limit integer, p_worker text, p_lease_s numeric)
RETURNS TABLE (delivery_id bigint, event_id uuid, event_seq bigint, aggregate_id uuid, event_type text,
               payload jsonb, occurred_at timestamptz, attempt_no integer, lease_token uuid)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_route   public.iu_outbound_route%ROWTYPE;
    v_ready   bigint[];
    v_blocked bigint[];
    v_lost    bigint[];
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF public.fn_iu_worker_route_blocked(v_route) IS NOT NULL
       OR v_route.dry_run OR v_route.target_kind = 'sql_function' THEN
        RETURN;
    END IF;

    SELECT c.ready, c.blocked INTO v_ready, v_blocked
      FROM public.fn_iu_worker_claim_rows(p_route_code,
               public.fn_iu_worker_batch_limit(v_route, p_limit),
               v_route.ordering_policy = 'strict', true) c;

    -- Leases that expired: record the lost attempt.
    SELECT coalesce(array_agg(d.delivery_id), '{}') INTO v_lost
      FROM public.iu_delivery d
     WHERE d.delivery_id = ANY (v_ready) AND d.state = 'inflight';
    IF cardinality(v_lost) > 0 THEN
        PERFORM public.fn_iu_worker_record(
            p_route_code, array_agg(d.delivery_id), array_agg(d.attempts), array_agg('failed'::text),
            array_agg(jsonb_build_object('reason', 'lease expired: the worker holding the delivery stopped',
                                         'lease_expired', true, 'lease_owner', d.lease_owner,
                                         'retryable', true)),
            array_agg(d.available_at), array_agg(now()), array_agg(d.lease_token))
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_lost);
        -- claim only those that are still retryable
        SELECT coalesce(array_agg(d.delivery_id), '{}') INTO v_ready
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_ready) AND d.state IN ('pending', 'retrying');
    END IF;

    -- An event that is no longer in the outbox cannot be delivered: a permanent failure.
    IF EXISTS (SELECT 1 FROM public.iu_delivery d
                WHERE d.delivery_id = ANY (v_ready)
                  AND NOT EXISTS (SELECT 1 FROM public.event_outbox o WHERE o.event_id = d.event_id)) THEN
        PERFORM public.fn_iu_worker_record(
            p_route_code, array_agg(d.delivery_id), array_agg(d.attempts + 1), array_agg('failed'::text),
            array_agg(jsonb_build_object('reason', 'the event is no longer in event_outbox',
                                         'retryable', false)),
            array_agg(now()), array_agg(now()), array_agg(NULL::uuid))
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_ready)
           AND NOT EXISTS (SELECT 1 FROM public.event_outbox o WHERE o.event_id = d.event_id);
    END IF;

    RETURN QUERY
    UPDATE public.iu_delivery d
       SET state = 'inflight',
           attempts = d.attempts + 1,
           lease_owner = p_worker,
           lease_token = gen_random_uuid(),
           available_at = now() + make_interval(secs => greatest(p_lease_s, 1)::float8)
      FROM public.event_outbox o
     WHERE d.delivery_id = ANY (v_ready)
       AND o.event_id = d.event_id
    RETURNING d.delivery_id, d.event_id, d.event_seq, d.aggregate_id, o.event_type, o.payload,
              o.occurred_at, d.attempts, d.lease_token;
END
$$;


-- ---------------------------------------------------------------------------
-- Operator functions
-- ---------------------------------------------------------------------------
-- Backfill: deliveries for a route's events that predate it (or all since a
-- time). Events that already have a delivery on the route are left alone.
CREATE FUNCTION fn_iu_worker_backfill(p_route_code text, p_since timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_event_type text;
    v_added integer;
BEGIN
    SELECT r.event_type INTO v_event_type FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', quote_literal(p_route_code) USING ERRCODE = 'IU004';
    END IF;
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT p_route_code, o.event_id, o.event_seq, o.aggregate_id
      FROM public.event_outbox o
     WHERE o.event_type = v_event_type
       AND (p_since IS NULL OR o.occurred_at >= p_since)
     ORDER BY o.event_seq
    ON CONFLICT (route_code, event_id) DO NOTHING;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    IF v_added > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_added;
END
$$;

-- Replay open dead letters (by ids, by route, or all when both are NULL and
-- p_all): each delivery goes back to pending with a fresh attempt budget, in
-- its place in its IU's order (held events behind it stay held until it is
-- sent). Returns the dead letters replayed.
CREATE FUNCTION fn_iu_worker_replay(p_ids bigint[], p_route_code text, p_all boolean, p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_count integer;
BEGIN
    WITH dl AS (
        UPDATE public.iu_route_dead_letter l
           SET status = 'replayed', resolved_at = now(), resolved_by = p_by, resolution_note = p_note
         WHERE l.status = 'open'
           AND (p_all OR l.dead_letter_id = ANY (p_ids) OR l.route_code = p_route_code)
        RETURNING l.route_code, l.event_ref
    ), requeue AS (
        INSERT INTO public.iu_delivery AS d (route_code, event_id, event_seq, aggregate_id)
        SELECT DISTINCT dl.route_code, o.event_id, o.event_seq, o.aggregate_id
          FROM dl JOIN public.event_outbox o ON o.event_id = dl.event_ref
        ON CONFLICT (route_code, event_id) DO UPDATE
           SET state = 'pending', budget_from = d.attempts, available_at = now(),
               last_error = NULL, finished_at = NULL, lease_owner = NULL, lease_token = NULL
         WHERE d.state IN ('dead', 'discarded')
    )
    SELECT count(*) INTO v_count FROM dl;
    IF v_count > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_count;
END
$$;

-- Discard open dead letters (same selection as replay): the delivery is given
-- up on, and under a strict policy its IU's next held event may go.
CREATE FUNCTION fn_iu_worker_discard(p_ids bigint[], p_route_code text, p_all boolean, p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_count  integer;
    v_routes text[];
    v_aggs   uuid[];
    v_route  text;
BEGIN
    WITH dl AS (
        UPDATE public.iu_route_dead_letter l
           SET status = 'discarded', resolved_at = now(), resolved_by = p_by, resolution_note = p_note
         WHERE l.status = 'open'
           AND (p_all OR l.dead_letter_id = ANY (p_ids) OR l.route_code = p_route_code)
        RETURNING l.route_code, l.event_ref
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state = 'discarded', finished_at = now()
          FROM dl
         WHERE d.route_code = dl.route_code AND d.event_id = dl.event_ref AND d.state = 'dead'
        RETURNING d.route_code, d.aggregate_id
    )
    SELECT (SELECT count(*) FROM dl),
           (SELECT array_agg(u.route_code) FROM upd u),
           (SELECT array_agg(u.aggregate_id) FROM upd u)
      INTO v_count, v_routes, v_aggs;
    FOR v_route IN SELECT DISTINCT r FROM unnest(v_routes) AS r LOOP
        PERFORM public.fn_iu_worker_release_held(
            v_route,
            ARRAY(SELECT a FROM unnest(v_routes, v_aggs) AS x(r, a) WHERE x.r = v_route));
    END LOOP;
    RETURN v_count;
END
$$;
