-- Delivery state: one row per (route, event), dry-run decisions, and the
-- circuit breaker of each route. The functions that move these states are in
-- sql/functions/worker_*.sql.

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
    updated_at           timestamptz NOT NULL DEFAULT now(),
    failing_since        timestamptz           -- start of the current run of failures (NULL: the last attempt succeeded)
);
COMMENT ON TABLE iu_route_circuit IS 'Per-route circuit breaker: consecutive failures and the end of the cool-down.';
COMMENT ON COLUMN iu_route_circuit.failing_since IS
    'Start of the current run of failed attempts (NULL after a success).';
