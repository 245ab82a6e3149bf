SET LOCAL check_function_bodies = off;

-- schema/config.sql
-- Configuration: key/value rows. Two keys are the delivery switches:
--   iu_core.delivery_enabled      the delivery gate: JSON true opens it; anything else is closed
--   iu_core.delivery_live_routes  the live allowlist: a JSON array of route codes
CREATE TABLE dot_config (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dot_config IS 'Key/value configuration. iu_core.delivery_enabled is the delivery gate; iu_core.delivery_live_routes the live allowlist.';

INSERT INTO dot_config (key, value) VALUES
    ('iu_core.delivery_enabled', 'false'::jsonb),     -- the gate: closed
    ('iu_core.delivery_live_routes', '[]'::jsonb);    -- the allowlist: empty

-- schema/domain.sql
-- The knowledge domain: information units, their piece trees, the journal of
-- structure operations, and the relations between units.
--
-- Every change to a piece tree is one structure operation: one transaction that
-- locks the IU row (SELECT … FOR UPDATE on information_unit), writes one
-- iu_structure_operation row, the piece changes, and its events in event_outbox.
-- Locking the IU row serialises all operations on one IU; operations on
-- different IUs run in parallel.

CREATE TABLE information_unit (
    iu_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code       text NOT NULL UNIQUE CHECK (code <> ''),
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT 'active'
               CHECK (status IN ('active',      -- current document
                                 'archived')),  -- kept for history, not edited
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE information_unit IS 'An information unit (IU): one document of the knowledge hub.';

-- The journal of every tree change.
CREATE TABLE iu_structure_operation (
    operation_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    operation_seq  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- order of application
    iu_id          uuid NOT NULL REFERENCES information_unit (iu_id),
    operation_type text NOT NULL
                   CHECK (operation_type IN ('autocut',     -- first cut of an ingested document
                                             'reingest',    -- re-cut with --replace: the difference
                                             'split',       -- one piece becomes two
                                             'merge',       -- two adjacent siblings become one
                                             'move',        -- new parent and/or position
                                             'rename',      -- new label and/or heading
                                             'deprecate',   -- a piece and its subtree withdrawn
                                             'restore')),   -- a withdrawn subtree back in the tree
    parameters     jsonb NOT NULL DEFAULT '{}'::jsonb,        -- what the caller asked for, and the outcome
    actor          text NOT NULL DEFAULT current_user,
    applied_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_structure_operation IS 'One row per structure operation applied to an IU (autocut, split, merge, move, rename, deprecate, restore, reingest).';
CREATE INDEX iu_structure_operation_iu_idx ON iu_structure_operation (iu_id, operation_seq);

CREATE TABLE iu_piece (
    piece_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    iu_id           uuid NOT NULL REFERENCES information_unit (iu_id),
    parent_piece_id uuid REFERENCES iu_piece (piece_id),  -- NULL only for the root
    position        integer NOT NULL CHECK (position >= 0), -- order among siblings
    kind            text NOT NULL,                          -- document, chapter, article, clause, ...
    label           text NOT NULL DEFAULT '',               -- "Article 3", "Điều 3", "a)"
    heading         text NOT NULL DEFAULT '',               -- the title after the label
    text            text NOT NULL DEFAULT '',               -- the piece's own text (lossless)
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active',        -- part of the current tree
                                      'deprecated')),  -- withdrawn, restorable
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid REFERENCES iu_structure_operation (operation_id),  -- the operation that created it
    deprecated_by   uuid REFERENCES iu_structure_operation (operation_id),  -- set while deprecated
    deprecated_at   timestamptz,
    -- deprecated_by is set exactly while the piece is deprecated
    CONSTRAINT iu_piece_deprecation_consistent CHECK ((status = 'deprecated') = (deprecated_by IS NOT NULL)),
    CONSTRAINT iu_piece_not_own_parent CHECK (parent_piece_id <> piece_id),
    CONSTRAINT iu_piece_iu_piece_key UNIQUE (iu_id, piece_id),
    -- A parent is always a piece of the same IU.
    CONSTRAINT iu_piece_parent_same_iu FOREIGN KEY (iu_id, parent_piece_id) REFERENCES iu_piece (iu_id, piece_id),
    -- Active siblings never share a position. Deferred: an operation renumbers
    -- siblings in any order and the check runs when it ends (operations set the
    -- constraint IMMEDIATE before they return, so a violation surfaces there).
    -- Deprecated pieces keep their last position and are out of the check.
    CONSTRAINT iu_piece_active_sibling_position
        EXCLUDE USING btree (parent_piece_id WITH =, position WITH =)
        WHERE (status = 'active')
        DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON TABLE iu_piece IS 'The piece tree of an IU, produced by autocut and changed by structure operations.';
CREATE INDEX iu_piece_iu_idx ON iu_piece (iu_id);
CREATE INDEX iu_piece_parent_idx ON iu_piece (parent_piece_id, position);
-- One root per IU (the root is never deprecated, split away or moved).
CREATE UNIQUE INDEX iu_piece_one_root_idx ON iu_piece (iu_id) WHERE parent_piece_id IS NULL;

CREATE TABLE iu_relation (
    relation_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    from_iu_id    uuid NOT NULL REFERENCES information_unit (iu_id),
    to_iu_id      uuid NOT NULL REFERENCES information_unit (iu_id),
    relation_type text NOT NULL CHECK (relation_type IN ('cites', 'amends', 'supersedes', 'related')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL DEFAULT current_user,
    UNIQUE (from_iu_id, to_iu_id, relation_type),
    CHECK (from_iu_id <> to_iu_id)
);
COMMENT ON TABLE iu_relation IS 'Typed links between IUs.';
CREATE INDEX iu_relation_to_idx ON iu_relation (to_iu_id);

-- schema/outbox.sql
-- The transactional outbox: events written in the same transaction as the
-- domain change they describe. event_seq is allocation order, not commit order:
-- the fan-out trigger (wiring.sql) is what makes delivery gap-free.
CREATE TABLE event_outbox (
    event_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_seq      bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- allocation order, NOT commit order
    event_type     text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   uuid NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE event_outbox IS 'Events written in the same transaction as the domain change they describe.';
CREATE INDEX event_outbox_type_seq_idx ON event_outbox (event_type, event_seq);
CREATE INDEX event_outbox_aggregate_idx ON event_outbox (aggregate_id, event_seq);

-- schema/routes.sql
-- Routes: where events of a type go, how, and the policy of their delivery;
-- and the credentials of the HTTP routes.
--
-- A credential's text is read only by the targets (to sign or authenticate a
-- request) and by `route secret rotate`, which prints a new secret once.
-- Everything else — CLI output, attempt details, logs, errors — names a
-- credential by its fingerprint (sha256 prefix), never by its text.

CREATE TABLE iu_outbound_route (
    route_code      text PRIMARY KEY CHECK (route_code ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    event_type      text NOT NULL,
    target_kind     text NOT NULL
                    CHECK (target_kind IN ('sql_function', 'workflow', 'vector', 'report',
                                           'directus_flow', 'external_endpoint')),
    target_ref      text NOT NULL,
    dry_run         boolean NOT NULL DEFAULT true,  -- true: record decisions, deliver nothing
    -- Operational state and per-route policy (the worker and the HTTP targets).
    enabled         boolean NOT NULL DEFAULT true,  -- false: paused by an operator or by a 410
    disabled_reason text,
    ordering_policy text NOT NULL DEFAULT 'strict'
                    CHECK (ordering_policy IN ('strict',     -- a dead letter holds its IU's later events
                                               'relaxed')),  -- later events go on
    max_attempts    integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    base_delay_ms   integer NOT NULL DEFAULT 1000 CHECK (base_delay_ms BETWEEN 0 AND 3600000),
    max_delay_ms    integer NOT NULL DEFAULT 300000 CHECK (max_delay_ms BETWEEN 0 AND 86400000),
    timeout_s       numeric NOT NULL DEFAULT 10 CHECK (timeout_s > 0 AND timeout_s <= 300),
    connect_timeout_s numeric NOT NULL DEFAULT 5 CHECK (connect_timeout_s > 0 AND connect_timeout_s <= 300),
    max_in_flight   integer NOT NULL DEFAULT 8 CHECK (max_in_flight BETWEEN 1 AND 1000),
    allow_networks  cidr[] NOT NULL DEFAULT '{}',   -- networks the address policy lets through
    rate_limit_per_s numeric CHECK (rate_limit_per_s IS NULL OR rate_limit_per_s > 0),
    circuit_failure_threshold integer NOT NULL DEFAULT 5 CHECK (circuit_failure_threshold >= 1),
    circuit_cooldown_s integer NOT NULL DEFAULT 30 CHECK (circuit_cooldown_s >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_outbound_route IS 'Where events of one type go. dry_run=false is possible only through the guard trigger.';
CREATE INDEX iu_outbound_route_event_type_idx ON iu_outbound_route (event_type);


-- The starting state: one route per structure event type, both dry-run
-- to the workflow engine's no-op reference (the event stays in the outbox).
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run) VALUES
    ('structure_op_applied.workflow', 'structure_op_applied', 'workflow', 'event_outbox', true),
    ('structure_piece_deprecated.workflow', 'structure_piece_deprecated', 'workflow', 'event_outbox', true);

CREATE TABLE iu_route_credential (
    credential_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code    text NOT NULL REFERENCES iu_outbound_route (route_code)
                  ON UPDATE CASCADE ON DELETE CASCADE,  -- a removed route takes its secrets with it
    kind          text NOT NULL
                  CHECK (kind IN ('webhook_secret',   -- whsec_…: signs external_endpoint deliveries
                                  'access_token')),   -- bearer token of a directus_flow route
    secret        text NOT NULL CHECK (secret <> ''),
    fingerprint   text NOT NULL,                      -- 'sha256:' + 16 hex: safe to show and log
    created_at    timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz,   -- NULL: the current credential of (route, kind)
    valid_until   timestamptz,   -- superseded: still signs until then (the rotation window)
    CHECK ((superseded_at IS NULL) = (valid_until IS NULL))
);
COMMENT ON TABLE iu_route_credential IS
    'Per-route signing secrets and access tokens. One current row per (route, kind); a superseded '
    'webhook secret keeps signing until valid_until so receivers can switch without a gap.';
COMMENT ON COLUMN iu_route_credential.secret IS
    'The credential itself. Never selected by reports; shown only once, by route secret rotate.';

-- At most one current credential per route and kind.
CREATE UNIQUE INDEX iu_route_credential_current_idx
    ON iu_route_credential (route_code, kind) WHERE superseded_at IS NULL;

REVOKE ALL ON iu_route_credential FROM PUBLIC;

-- schema/consumers.sql
-- The registry of internal SQL consumers. A route of kind sql_function names
-- its consumer by free text (target_ref); that text is only ever COMPARED with
-- consumer_name. What is called is the registered regprocedure, whose schema
-- and name come from pg_proc and are quoted with %I. The built-in consumer is
-- registered in wiring.sql, once its function exists.

CREATE TABLE iu_internal_consumer (
    consumer_name text PRIMARY KEY                -- what a route's target_ref must equal, exactly
                  CHECK (consumer_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
    consumer      regprocedure NOT NULL UNIQUE,   -- the function called: (uuid, jsonb) -> integer
    description   text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_internal_consumer IS
    'Internal SQL consumers that fn_iu_route_deliver may call for target_kind=sql_function routes. '
    'A route reaches a function only through a row here.';

-- schema/delivery.sql
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
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_route_circuit IS 'Per-route circuit breaker: consecutive failures and the end of the cool-down.';

-- schema/audit.sql
-- The audit path: every delivery attempt, the dead-letter queue, and the
-- operator's audit trail (who changed which route, gate, allowlist or consumer).
--
-- Operator audit — who: the session setting iu_core.actor (the CLI sets it to
-- the operator's name), else the database session user; what made the change:
-- the session setting iu_core.context ('route set', 'runtime/300', ...).
-- Triggers record it, so a change made with psql, by the CLI or by a runtime
-- macro is recorded alike.

CREATE TABLE iu_route_attempt (
    attempt_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code  text NOT NULL,
    event_ref   uuid NOT NULL,
    attempt_no  integer NOT NULL CHECK (attempt_no >= 1),
    status      text NOT NULL CHECK (status IN ('sent',      -- the target accepted it
                                                'failed',    -- error; retried or dead-lettered
                                                'skipped')), -- not delivered by decision
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
COMMENT ON TABLE iu_route_attempt IS 'One row per delivery attempt by the worker (the audit path).';
CREATE INDEX iu_route_attempt_route_event_idx ON iu_route_attempt (route_code, event_ref);

CREATE TABLE iu_route_dead_letter (
    dead_letter_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code     text NOT NULL,
    event_ref      uuid NOT NULL,
    reason         text NOT NULL,
    attempts       integer NOT NULL CHECK (attempts >= 0),
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open',        -- waiting for an operator
                                     'replayed',    -- sent back to the worker
                                     'discarded')), -- given up on, with a reason
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text,
    resolution_note text
);
COMMENT ON TABLE iu_route_dead_letter IS 'Deliveries that failed permanently or exhausted their attempts.';
CREATE INDEX iu_route_dead_letter_open_idx ON iu_route_dead_letter (route_code) WHERE status = 'open';

CREATE TABLE iu_operator_audit (
    audit_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at  timestamptz NOT NULL DEFAULT now(),        -- the changing transaction's time
    actor       text NOT NULL,                             -- iu_core.actor, else session_user
    context     text,                                      -- iu_core.context, when set
    object_type text NOT NULL CHECK (object_type IN ('route',       -- a row of iu_outbound_route
                                                     'config',      -- a row of dot_config (gate, allowlist)
                                                     'consumer')),  -- a row of iu_internal_consumer
    object_key  text NOT NULL,                             -- route_code, dot_config key, consumer_name
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    before      jsonb,                                     -- the row before (NULL for insert)
    after       jsonb                                      -- the row after (NULL for delete)
);
COMMENT ON TABLE iu_operator_audit IS
    'Append-only audit of changes to routes, the delivery gate, the live allowlist and the consumer registry.';
CREATE INDEX iu_operator_audit_object_idx ON iu_operator_audit (object_type, object_key, audit_id);

-- schema/projection.sql
-- The internal projection: append-only, idempotent, truncatable. Written by
-- fn_iu_structure_consumer through the SQL seam; UPDATE is refused (wiring.sql).

CREATE TABLE iu_tree_change_log (
    change_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_ref      uuid NOT NULL UNIQUE,      -- the event id: one row per event, ever
    event_type     text NOT NULL,
    iu_id          uuid NOT NULL,
    operation_id   uuid,
    operation_type text NOT NULL,
    piece_id       uuid,                      -- set for structure_piece_deprecated
    delivered_by   text NOT NULL,
    delivered_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_tree_change_log IS 'Append-only, idempotent, truncatable projection of structure events. UPDATE is refused.';
CREATE INDEX iu_tree_change_log_iu_idx ON iu_tree_change_log (iu_id);

-- migrations/007_one_house.sql
-- 007: functions now live in sql/functions/ (CREATE OR REPLACE, one file per
-- function or family); this delta drops the signatures that changed there,
-- and adds the worker and operator roles.

-- Replay and discard take a "failed since" bound now.
DROP FUNCTION IF EXISTS fn_iu_worker_replay(bigint[], text, boolean, text, text);
DROP FUNCTION IF EXISTS fn_iu_worker_discard(bigint[], text, boolean, text, text);

-- migrations/008_http_hardening.sql
-- 008 — limits of HTTP delivery:
--   max_payload_bytes            the largest body a route sends (default 1 MiB);
--                                a larger event becomes a dead letter with the reason
--   disable_after_failing_hours  a route whose every attempt failed for this long,
--                                with no success in between, is disabled automatically
--   iu_route_circuit.failing_since  when the current run of failures began (NULL: the
--                                last attempt succeeded)
ALTER TABLE iu_outbound_route
    ADD COLUMN max_payload_bytes integer NOT NULL DEFAULT 1048576
        CHECK (max_payload_bytes BETWEEN 1 AND 67108864),
    ADD COLUMN disable_after_failing_hours numeric NOT NULL DEFAULT 72
        CHECK (disable_after_failing_hours > 0);
COMMENT ON COLUMN iu_outbound_route.max_payload_bytes IS
    'Largest request body this route sends; an event over it becomes a dead letter.';
COMMENT ON COLUMN iu_outbound_route.disable_after_failing_hours IS
    'A route failing every attempt for this many hours (no success between) is disabled automatically.';

ALTER TABLE iu_route_circuit ADD COLUMN failing_since timestamptz;
COMMENT ON COLUMN iu_route_circuit.failing_since IS
    'Start of the current run of failed attempts (NULL after a success).';

-- migrations/010_vector.sql
-- 010 — the vector index: one embedding per active piece and collection (pgvector).
--
-- Created only where the server offers pgvector (pg_available_extensions); on a
-- server without it this migration does nothing, the ledger still records it,
-- and every vector route fails closed with "pgvector is not installed in this
-- database". The block is idempotent: `iu-core vector install` runs it again
-- once pgvector has been installed on such a server.
--
-- The DDL is EXECUTEd (constant text, no input) because the type public.vector
-- does not exist when this file is parsed on a server without pgvector.

DO $vector$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'vector') THEN
        RAISE NOTICE 'pgvector is not available on this server: the vector index is not created';
        RETURN;
    END IF;

    EXECUTE 'CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public';

    EXECUTE $ddl$
    CREATE TABLE IF NOT EXISTS public.iu_vector_piece (
        collection    text NOT NULL CHECK (collection ~ '^[A-Za-z0-9._:-]{1,64}$'),
        piece_id      uuid NOT NULL REFERENCES public.iu_piece (piece_id) ON DELETE CASCADE,
        iu_id         uuid NOT NULL REFERENCES public.information_unit (iu_id) ON DELETE CASCADE,
        language      text NOT NULL CHECK (language IN ('en',    -- English
                                                        'vi')),  -- Vietnamese
        model_name    text NOT NULL,          -- the embedder's model, e.g. multilingual-e5-small-q4
        model_version text NOT NULL,          -- the engine/recipe version that produced the vector
        content_hash  text NOT NULL,          -- sha256 of the embedded text (heading path + piece text)
        heading_path  text NOT NULL,          -- "Document > Chapter II > Article 3 Booking", for display
        embedding     public.vector(384) NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (collection, piece_id)
    )
    $ddl$;
    EXECUTE $ddl$
    COMMENT ON TABLE public.iu_vector_piece IS
        'One embedding per active piece and collection, kept current by vector routes and vector reindex.'
    $ddl$;
    EXECUTE 'CREATE INDEX IF NOT EXISTS iu_vector_piece_unit_idx ON public.iu_vector_piece (collection, iu_id)';
    -- Cosine distance (<=>) on normalised vectors; HNSW answers ORDER BY ... LIMIT.
    EXECUTE 'CREATE INDEX IF NOT EXISTS iu_vector_piece_hnsw_idx ON public.iu_vector_piece '
            'USING hnsw (embedding public.vector_cosine_ops)';

    -- The deliveries a vector route applied, by idempotency key: written in the
    -- same transaction as the vectors, so a delivery applied once is skipped
    -- when it comes again.
    EXECUTE $ddl$
    CREATE TABLE IF NOT EXISTS public.iu_vector_delivery (
        idempotency_key text PRIMARY KEY,
        collection      text NOT NULL,
        event_ref       uuid NOT NULL,
        iu_id           uuid,
        embedded        integer NOT NULL,   -- pieces (re-)embedded by the sync this delivery ran in
        removed         integer NOT NULL,   -- rows removed (pieces deprecated or gone)
        applied_at      timestamptz NOT NULL DEFAULT now()
    )
    $ddl$;
END
$vector$;

-- migrations/011_report.sql
-- 011 — the structure report: one row per information unit, kept current by
-- the `report` target kind and `iu-core report build`.
--
-- A row is rewritten only by a generation that reflects the same or a later
-- event of its IU (event_seq), and at the same event only when the content
-- differs (digest): re-delivering an older event, or the same one again,
-- changes nothing. `generation` counts the rewrites.

CREATE TABLE iu_structure_report (
    iu_id        uuid PRIMARY KEY REFERENCES information_unit (iu_id),
    code         text NOT NULL,
    event_seq    bigint NOT NULL CHECK (event_seq >= 0),  -- the IU's newest event the report reflects (0: none)
    event_id     uuid,                                    -- that event (NULL when the IU has no event)
    digest       text NOT NULL,                           -- SHA-256 of the content without its generation time
    markdown     text NOT NULL,
    html         text NOT NULL,                           -- one self-contained page: inline CSS, no script
    json         jsonb NOT NULL,
    generation   bigint NOT NULL DEFAULT 1 CHECK (generation >= 1),
    generated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_structure_report IS 'Per-IU structure report (tree, change history, relations) as Markdown, HTML and JSON; monotonic in event_seq.';
CREATE INDEX iu_structure_report_code_idx ON iu_structure_report (code);

-- migrations/012_retention.sql
-- 012 — retention of delivery history:
--   iu_retention_setting   how long each history table keeps finished rows
--   iu_retention_horizon   the oldest point backfill may still reach
--
-- What is pruned, and when a row is finished (iu_core.retention; the batch
-- functions are in sql/functions/retention_prune.sql):
--   event_outbox          occurred_at older than keep_for, and no delivery of it on any
--                         route is pending, inflight, retrying, held or dead, and no open
--                         dead letter names it
--   iu_delivery           sent / skipped / decided / discarded, finished_at older than keep_for
--   iu_route_attempt      started_at older than keep_for, and its delivery is not unfinished
--   iu_route_decision     decided_at older than keep_for
--   iu_route_dead_letter  replayed or discarded, resolved_at older than keep_for (open: never)
-- Never pruned: iu_tree_change_log (the projection) and iu_structure_operation
-- (the structure journal).
--
-- Finding old rows: every history table has an identity key (event_outbox: the
-- unique event_seq) that grows with its time column, so a prune batch walks the
-- key from where the previous batch stopped, in key order, and stops where the
-- rows become younger than the cutoff. No index is added on a time column: an
-- index on iu_delivery.finished_at or iu_route_attempt.started_at would cost
-- every delivery of the worker's hot path one more index write, to speed up
-- a job that runs every few minutes. The only new index is the one that
-- makes "is this event still unfinished anywhere" one probe per open dead
-- letter (below).

CREATE TABLE iu_retention_setting (
    table_name  text PRIMARY KEY
                CHECK (table_name IN ('event_outbox', 'iu_delivery', 'iu_route_attempt',
                                      'iu_route_decision', 'iu_route_dead_letter')),
    keep_for    interval NOT NULL CHECK (keep_for >= interval '1 hour'),
    enabled     boolean NOT NULL DEFAULT true,     -- false: the worker's automatic pruning skips it
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_retention_setting IS
    'Retention per history table: finished rows older than keep_for are pruned (automatically by the worker when enabled).';

INSERT INTO iu_retention_setting (table_name, keep_for) VALUES
    ('event_outbox',         interval '30 days'),
    ('iu_delivery',          interval '30 days'),
    ('iu_route_attempt',     interval '30 days'),
    ('iu_route_decision',    interval '14 days'),
    ('iu_route_dead_letter', interval '90 days');

-- One row. horizon_at: the latest cutoff applied to events or deliveries;
-- horizon_seq: the highest event_seq whose delivery was pruned.
-- Backfill reaches only events at or after horizon_at and above horizon_seq,
-- so an event whose delivery was pruned is never delivered again.
-- Prune batches update this row before they delete (and backfill reads it
-- FOR SHARE), so the two never interleave.
CREATE TABLE iu_retention_horizon (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon_at  timestamptz,                      -- NULL: nothing pruned yet
    horizon_seq bigint NOT NULL DEFAULT 0,
    last_run_at timestamptz,                      -- the last complete pruning run
    last_report jsonb
);
COMMENT ON TABLE iu_retention_horizon IS
    'The retention horizon: backfill never reaches events before it; the last pruning run.';
INSERT INTO iu_retention_horizon (singleton) VALUES (true);

-- Open dead letters by event: the event pruner keeps every event named here.
CREATE INDEX iu_route_dead_letter_open_event_idx ON iu_route_dead_letter (event_ref) WHERE status = 'open';

-- migrations/013_console.sql
-- 013 — users of the web console (iu-core console). A password is stored only
-- as an argon2id hash (argon2-cffi's encoded form, parameters included). A
-- session is a signed cookie that names the user and the user's session_epoch:
-- raising the epoch (log out, password change, removal) ends every session of
-- that user at once, though the cookies themselves are not stored anywhere.

CREATE TABLE iu_console_user (
    user_name     text PRIMARY KEY
                  CHECK (user_name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    session_epoch integer NOT NULL DEFAULT 0,    -- sessions signed with an older epoch are refused
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
COMMENT ON TABLE iu_console_user IS 'Users of the web console: name and argon2 password hash.';

-- functions/append_only.sql
CREATE OR REPLACE FUNCTION fn_iu_refuse_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: UPDATE is refused', TG_TABLE_NAME
        USING ERRCODE = 'IU007';
END
$$;

-- functions/dead_letters.sql
-- The open dead letters an operator's selection names: by ids, by route, all
-- (p_all), each optionally narrowed to those created since p_since. Replay
-- and discard both take their rows from here.
CREATE OR REPLACE FUNCTION fn_iu_dead_letter_selection(p_ids bigint[], p_route_code text, p_all boolean,
                                                       p_since timestamptz)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.dead_letter_id
      FROM public.iu_route_dead_letter l
     WHERE l.status = 'open'
       AND (p_all OR l.dead_letter_id = ANY (p_ids) OR l.route_code = p_route_code)
       AND (p_since IS NULL OR l.created_at >= p_since)
$$;

-- Replay the selected open dead letters of routes that still exist (those of
-- a removed route stay open: there is nowhere to deliver them): each delivery goes back to pending with a fresh attempt budget, in
-- its place in its IU's order (held events behind it stay held until it is
-- sent). Returns the dead letters replayed.
CREATE OR REPLACE FUNCTION fn_iu_worker_replay(p_ids bigint[], p_route_code text, p_all boolean, p_since timestamptz,
                                               p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    WITH dl AS (
        UPDATE public.iu_route_dead_letter l
           SET status = 'replayed', resolved_at = now(), resolved_by = p_by, resolution_note = p_note
         WHERE l.dead_letter_id IN (SELECT public.fn_iu_dead_letter_selection(p_ids, p_route_code, p_all, p_since))
           AND EXISTS (SELECT 1 FROM public.iu_outbound_route r WHERE r.route_code = l.route_code)
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

-- Discard the selected open dead letters: the delivery is given
-- up on, and under a strict policy its IU's next held event may go.
CREATE OR REPLACE FUNCTION fn_iu_worker_discard(p_ids bigint[], p_route_code text, p_all boolean, p_since timestamptz,
                                                p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
         WHERE l.dead_letter_id IN (SELECT public.fn_iu_dead_letter_selection(p_ids, p_route_code, p_all, p_since))
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

-- functions/delivery_fan_out.sql
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
CREATE OR REPLACE FUNCTION fn_iu_delivery_fan_out() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- A change of the gate, the allowlist or a route may make waiting work due.
CREATE OR REPLACE FUNCTION fn_iu_delivery_wake() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('iu_core_delivery', 'config');  -- 'config': workers reload routes
    RETURN NULL;
END
$$;

-- A removed route takes its deliveries and circuit with it.
CREATE OR REPLACE FUNCTION fn_iu_delivery_route_removed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.iu_delivery WHERE route_code = OLD.route_code;
    DELETE FROM public.iu_route_circuit WHERE route_code = OLD.route_code;
    RETURN NULL;
END
$$;

-- functions/delivery_gate.sql
-- The gate is open only when the key holds JSON true; a missing or malformed
-- key reads as closed (fail-closed).
CREATE OR REPLACE FUNCTION fn_iu_delivery_gate_open() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT value = 'true'::jsonb FROM public.dot_config
          WHERE key = 'iu_core.delivery_enabled'),
        false)
$$;

-- A route is allowlisted when its code is a string element of the JSON array;
-- anything but an array reads as an empty allowlist.
CREATE OR REPLACE FUNCTION fn_iu_route_allowlisted(p_route_code text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT jsonb_typeof(value) = 'array' AND value @> jsonb_build_array(p_route_code)
           FROM public.dot_config
          WHERE key = 'iu_core.delivery_live_routes'),
        false)
$$;

-- functions/delivery_macro.sql
-- The steps of the delivery macros runtime/220 (the oldest undelivered
-- structure event) and runtime/300 (every undelivered one). Each macro is one
-- transaction that calls these in order:
--
--   fn_iu_macro_capture   P0: capture and lock routes, gate and allowlist
--   fn_iu_macro_discover  P1: the structure set, the backlog, the report
--   fn_iu_macro_arm       arm, then P2: flip the structure routes live
--   fn_iu_macro_deliver   P3, P4, P5: deliver, re-deliver, dead letters
--   fn_iu_macro_restore   restore, then the delivery success gate
--
-- They share their state through session-local temp tables: pg_temp.iu_rt_p0_route,
-- pg_temp.iu_rt_p0_config and pg_temp.iu_rt_p1_event (ON COMMIT DROP), and
-- pg_temp.iu_runtime_report (the figures; it outlives the COMMIT so that the
-- macro can report them). p_macro names the macro in every error; a failure
-- RAISEs, and the macro's whole transaction rolls back. Run with the caller's
-- privileges: they change the gate, the allowlist and routes, as an operator does.

-- P0 — the structure routes: for each structure event type one route,
-- preferring one already pointed at the internal consumer, then the seeded
-- '<event_type>.workflow', then the first by name; and the gate and the
-- allowlist (a key that is missing stays missing). Rows are locked so that no
-- operator change can slip in between capture and restore. Every structure
-- event type must have a route.
CREATE OR REPLACE FUNCTION fn_iu_macro_capture(p_macro text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text;
BEGIN
    CREATE TEMP TABLE pg_temp.iu_rt_p0_route ON COMMIT DROP AS
    SELECT r.*
      FROM public.iu_outbound_route r
     WHERE r.route_code IN (
            SELECT DISTINCT ON (x.event_type) x.route_code
              FROM public.iu_outbound_route x
             WHERE x.event_type IN ('structure_op_applied', 'structure_piece_deprecated')
             ORDER BY x.event_type,
                      (x.target_kind = 'sql_function' AND x.target_ref = 'fn_iu_structure_consumer') DESC,
                      (x.route_code = x.event_type || '.workflow') DESC,
                      x.route_code)
       FOR UPDATE OF r;

    CREATE TEMP TABLE pg_temp.iu_rt_p0_config ON COMMIT DROP AS
    SELECT c.*
      FROM public.dot_config c
     WHERE c.key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
       FOR UPDATE OF c;

    SELECT string_agg(t, ', ') INTO v_missing
      FROM unnest(ARRAY['structure_op_applied', 'structure_piece_deprecated']) AS t
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.iu_rt_p0_route r WHERE r.event_type = t);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION '%: no route for structure event type(s) %', p_macro, v_missing
            USING HINT = 'add one (iu-core route add ROUTE --event-type TYPE ...)';
    END IF;
END
$$;

-- P1 — the structure set, discovered live; "pending" marks the backlog: events
-- with no projection row yet; "selected" the events this run delivers, the
-- oldest p_limit pending by event_seq (p_limit NULL: every pending one).
-- Nothing is hardcoded: an event whose transaction commits after this point is
-- simply found by the next run. Then the report, with the figures known now.
CREATE OR REPLACE FUNCTION fn_iu_macro_discover(p_limit integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CREATE TEMP TABLE pg_temp.iu_rt_p1_event ON COMMIT DROP AS
    SELECT e.event_id, e.event_seq, e.event_type, e.payload,
           NOT EXISTS (SELECT 1 FROM public.iu_tree_change_log c WHERE c.event_ref = e.event_id) AS pending,
           false AS selected
      FROM public.event_outbox e
     WHERE e.event_type IN ('structure_op_applied', 'structure_piece_deprecated');
    UPDATE pg_temp.iu_rt_p1_event
       SET selected = true
     WHERE event_id IN (SELECT event_id FROM pg_temp.iu_rt_p1_event
                         WHERE pending ORDER BY event_seq LIMIT p_limit);

    -- The figures, filled step by step and reported by the macro at the end.
    DROP TABLE IF EXISTS pg_temp.iu_runtime_report;
    CREATE TEMP TABLE pg_temp.iu_runtime_report (
        undelivered_before integer,   -- P1: backlog size
        delivered          integer,   -- P3: rows the consumer added
        projection_before  bigint,    -- P1: iu_tree_change_log rows
        projection_after   bigint,    -- after P4
        redelivery_added   integer,   -- P4: rows added by re-delivering the projected set (must be 0)
        idempotent_ok      boolean,   -- redelivery_added = 0
        dead_letter_open   bigint,    -- P5: open dead letters on the structure routes
        via_consumer       bigint,    -- projection rows delivered by fn_iu_structure_consumer
        delivery_ok        boolean,   -- the success gate passed
        event_ref          uuid       -- the oldest event delivered (NULL on an empty backlog)
    );
    INSERT INTO pg_temp.iu_runtime_report (undelivered_before, projection_before, event_ref)
    SELECT (SELECT count(*) FROM pg_temp.iu_rt_p1_event WHERE pending),
           (SELECT count(*) FROM public.iu_tree_change_log),
           (SELECT event_id FROM pg_temp.iu_rt_p1_event WHERE selected ORDER BY event_seq LIMIT 1);
END
$$;

-- arm — gate open; the allowlist is exactly the structure routes. P2 — repoint
-- those routes to the internal consumer and flip them live: the guard trigger
-- permits dry_run = false only because of the arm step.
CREATE OR REPLACE FUNCTION fn_iu_macro_arm() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.dot_config (key, value) VALUES ('iu_core.delivery_enabled', 'true'::jsonb)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    INSERT INTO public.dot_config (key, value)
    SELECT 'iu_core.delivery_live_routes', jsonb_agg(route_code ORDER BY route_code) FROM pg_temp.iu_rt_p0_route
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

    UPDATE public.iu_outbound_route r
       SET target_kind = 'sql_function',
           target_ref = 'fn_iu_structure_consumer',
           dry_run = false,
           enabled = true,
           disabled_reason = NULL
      FROM pg_temp.iu_rt_p0_route p
     WHERE r.route_code = p.route_code;
END
$$;

-- P3, P4, P5 — deliver the selected events, prove re-delivery adds nothing,
-- count the open dead letters; the figures go into the report.
CREATE OR REPLACE FUNCTION fn_iu_macro_deliver(p_macro text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event     record;
    v_outcome   jsonb;
    v_delivered integer := 0;
    v_again     integer := 0;
    v_failure   text;
BEGIN
    -- P3 — deliver the selected events, oldest first. A refusal or a malformed
    -- event stops the loop and fails the success gate at the end of this
    -- function: everything rolls back, and the error names the event and the reason.
    FOR v_event IN
        SELECT e.*, r.route_code
          FROM pg_temp.iu_rt_p1_event e
          JOIN pg_temp.iu_rt_p0_route r ON r.event_type = e.event_type
         WHERE e.selected
         ORDER BY e.event_seq
    LOOP
        BEGIN
            v_outcome := public.fn_iu_route_deliver(v_event.route_code, v_event.event_id, v_event.payload);
            v_delivered := v_delivered + (v_outcome -> 'detail' ->> 'rows_added')::integer;
        EXCEPTION WHEN OTHERS THEN
            v_failure := format('event %s (%s) not delivered: [%s] %s',
                                v_event.event_id, v_event.event_type, SQLSTATE, SQLERRM);
            EXIT;
        END;
    END LOOP;

    -- P4 — idempotency: re-deliver every projected event of the set (those
    -- projected before, and those just delivered: with every pending event
    -- selected, the whole set). Every consumer write is
    -- ON CONFLICT (event_ref) DO NOTHING, so this must add 0 rows.
    IF v_failure IS NULL THEN
        FOR v_event IN
            SELECT e.*, r.route_code
              FROM pg_temp.iu_rt_p1_event e
              JOIN pg_temp.iu_rt_p0_route r ON r.event_type = e.event_type
             WHERE NOT e.pending OR e.selected
             ORDER BY e.event_seq
        LOOP
            v_outcome := public.fn_iu_route_deliver(v_event.route_code, v_event.event_id, v_event.payload);
            v_again := v_again + (v_outcome -> 'detail' ->> 'rows_added')::integer;
        END LOOP;
    END IF;

    -- P5 — the figures; the dead letters of the routes just used.
    UPDATE pg_temp.iu_runtime_report
       SET delivered = v_delivered,
           projection_after = (SELECT count(*) FROM public.iu_tree_change_log),
           redelivery_added = CASE WHEN v_failure IS NULL THEN v_again END,
           idempotent_ok = (v_failure IS NULL AND v_again = 0),
           dead_letter_open = (SELECT count(*) FROM public.iu_route_dead_letter d
                                WHERE d.status = 'open'
                                  AND d.route_code IN (SELECT route_code FROM pg_temp.iu_rt_p0_route)),
           via_consumer = (SELECT count(*) FROM public.iu_tree_change_log
                            WHERE delivered_by = 'fn_iu_structure_consumer');
    IF v_failure IS NOT NULL THEN
        RAISE EXCEPTION '% rolled back: delivery success gate failed: %', p_macro, v_failure;
    END IF;
END
$$;

-- restore — routes first (the guard still sees the armed state, so a route
-- that was live in P0 may be live again), then the gate and the allowlist,
-- exactly as captured in P0. Then the delivery success gate: every condition,
-- or RAISE and roll back. projection_after must equal projection_before plus
-- the backlog, at most p_limit of it (p_limit NULL: all of it).
CREATE OR REPLACE FUNCTION fn_iu_macro_restore(p_macro text, p_limit integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f          record;
    v_restored boolean;
    v_reasons  text[];
BEGIN
    UPDATE public.iu_outbound_route r
       SET target_kind = p.target_kind,
           target_ref = p.target_ref,
           dry_run = p.dry_run,
           enabled = p.enabled,
           disabled_reason = p.disabled_reason,
           updated_at = p.updated_at
      FROM pg_temp.iu_rt_p0_route p
     WHERE r.route_code = p.route_code;
    UPDATE public.dot_config c
       SET value = p.value, updated_at = p.updated_at
      FROM pg_temp.iu_rt_p0_config p
     WHERE c.key = p.key;
    DELETE FROM public.dot_config c
     WHERE c.key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
       AND c.key NOT IN (SELECT key FROM pg_temp.iu_rt_p0_config);

    SELECT * INTO f FROM pg_temp.iu_runtime_report;
    -- Restore is exact: every captured row equals its live row, column for column.
    SELECT (SELECT count(*) FROM public.iu_outbound_route r JOIN pg_temp.iu_rt_p0_route p USING (route_code)
             WHERE to_jsonb(r) = to_jsonb(p)) = (SELECT count(*) FROM pg_temp.iu_rt_p0_route)
       AND (SELECT count(*) FROM public.dot_config c JOIN pg_temp.iu_rt_p0_config p USING (key)
             WHERE to_jsonb(c) = to_jsonb(p)) = (SELECT count(*) FROM pg_temp.iu_rt_p0_config)
       AND (SELECT count(*) FROM public.dot_config
             WHERE key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes'))
           = (SELECT count(*) FROM pg_temp.iu_rt_p0_config)
      INTO v_restored;

    -- Every failed condition is named, in one line.
    v_reasons := array_remove(ARRAY[
        CASE WHEN f.projection_after IS DISTINCT FROM f.projection_before + least(f.undelivered_before, p_limit)
             THEN format('projection_after %s <> projection_before + %s (%s + %s)',
                         f.projection_after,
                         CASE WHEN p_limit IS NULL THEN 'undelivered_before'
                              ELSE format('min(%s, undelivered_before)', p_limit) END,
                         f.projection_before, f.undelivered_before) END,
        CASE WHEN NOT f.idempotent_ok AND f.redelivery_added IS NOT NULL
             THEN format('re-delivery added %s row(s)', f.redelivery_added) END,
        CASE WHEN f.dead_letter_open <> 0
             THEN format('%s open dead letter(s) on the structure routes (replay or discard them first)',
                         f.dead_letter_open) END,
        CASE WHEN NOT v_restored
             THEN 'routes, gate or allowlist differ from P0 after restore' END
    ], NULL);
    IF cardinality(v_reasons) > 0 THEN
        RAISE EXCEPTION '% rolled back: delivery success gate failed: %',
                        p_macro, array_to_string(v_reasons, '; ');
    END IF;
    UPDATE pg_temp.iu_runtime_report SET delivery_ok = true;
END
$$;

-- functions/internal_consumer.sql
-- A consumer must have the signature fn(event_ref uuid, payload jsonb) RETURNS
-- integer (rows added), so the dispatcher's call is always well-formed.
CREATE OR REPLACE FUNCTION fn_iu_internal_consumer_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc p
         WHERE p.oid = NEW.consumer
           AND p.prokind = 'f'
           AND p.proargtypes = '2950 3802'::oidvector      -- (uuid, jsonb)
           AND p.prorettype = 'integer'::regtype
           AND NOT p.proretset) THEN
        RAISE EXCEPTION 'internal consumer % must be a function (event_ref uuid, payload jsonb) RETURNS integer',
                        NEW.consumer
            USING ERRCODE = 'IU005';
    END IF;
    RETURN NEW;
END
$$;

-- What is wrong with a structure event (NULL: nothing, it may be projected).
-- event_type is the event's type as the payload states it, else as its
-- outbox row does. The one judgement of a structure event: the consumer below
-- asks it for one event, the worker's batch (fn_iu_worker_deliver_sql_batch)
-- for each event of a batch inside one set-based statement. PL/pgSQL with a
-- single expression: evaluated on the fast path, no executor start per call.
CREATE OR REPLACE FUNCTION fn_iu_structure_problem(p_event_ref uuid, p_event_type text, p_payload jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A uuid in its canonical text form (8-4-4-4-12 hex digits), which is what
    -- '^[0-9a-fA-F]{8}-...-[0-9a-fA-F]{12}$' accepts, checked without a regex
    -- (a regex match costs ~5 µs, three per event): 36 bytes with the four
    -- hyphens in place leave 32 characters, and uuid input accepts them only
    -- if all 32 are hex digits (no braces, no other hyphens fit).
    v_iu  text := p_payload ->> 'iu_id';
    v_op  text := p_payload ->> 'operation_id';
    v_pc  text := p_payload ->> 'piece_id';
    v_iu_ok boolean := octet_length(v_iu) = 36 AND pg_input_is_valid(v_iu, 'uuid')
                       AND substr(v_iu, 9, 1) || substr(v_iu, 14, 1) || substr(v_iu, 19, 1) || substr(v_iu, 24, 1) = '----';
    v_op_ok boolean := octet_length(v_op) = 36 AND pg_input_is_valid(v_op, 'uuid')
                       AND substr(v_op, 9, 1) || substr(v_op, 14, 1) || substr(v_op, 19, 1) || substr(v_op, 24, 1) = '----';
    v_pc_ok boolean := octet_length(v_pc) = 36 AND pg_input_is_valid(v_pc, 'uuid')
                       AND substr(v_pc, 9, 1) || substr(v_pc, 14, 1) || substr(v_pc, 19, 1) || substr(v_pc, 24, 1) = '----';
BEGIN
    RETURN CASE
        WHEN p_event_ref IS NULL THEN 'event_ref is null'
        WHEN jsonb_typeof(p_payload) IS DISTINCT FROM 'object' THEN 'payload is not a JSON object'
        WHEN p_event_type IS NULL THEN 'event_type is missing'
        WHEN p_event_type NOT IN ('structure_op_applied', 'structure_piece_deprecated')
            THEN format('event_type %L is not a structure event', p_event_type)
        WHEN jsonb_typeof(p_payload -> 'iu_id') IS DISTINCT FROM 'string'
             OR NOT v_iu_ok THEN 'iu_id is missing or not a uuid'
        WHEN jsonb_typeof(p_payload -> 'operation_id') IS DISTINCT FROM 'string'
             OR NOT v_op_ok THEN 'operation_id is missing or not a uuid'
        WHEN jsonb_typeof(p_payload -> 'operation_type') IS DISTINCT FROM 'string'
             OR btrim(p_payload ->> 'operation_type') = '' THEN 'operation_type is missing or empty'
        WHEN p_event_type = 'structure_piece_deprecated'
             AND (jsonb_typeof(p_payload -> 'piece_id') IS DISTINCT FROM 'string' OR NOT v_pc_ok)
            THEN 'piece_id is missing or not a uuid'
        WHEN p_payload ? 'piece_id' AND p_payload -> 'piece_id' <> 'null'::jsonb
             AND (jsonb_typeof(p_payload -> 'piece_id') IS DISTINCT FROM 'string' OR NOT v_pc_ok)
            THEN 'piece_id is not a uuid'
    END;
END
$$;

-- Validates the payload of a structure event and inserts its projection row.
-- Idempotent: ON CONFLICT (event_ref) DO NOTHING, so re-delivering an event
-- adds nothing. Returns the number of rows added (1 the first time, then 0).
-- Writes iu_tree_change_log and nothing else; a malformed payload raises IU006
-- before anything is written.
CREATE OR REPLACE FUNCTION fn_iu_structure_consumer(event_ref uuid, payload jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_event_type text;
    v_problem    text;
    v_added      integer;
BEGIN
    -- Which structure event this is: the payload says so; else the outbox row.
    IF jsonb_typeof(payload) = 'object' THEN
        v_event_type := coalesce(
            payload ->> 'event_type',
            (SELECT o.event_type FROM public.event_outbox o WHERE o.event_id = event_ref));
    END IF;
    v_problem := public.fn_iu_structure_problem(event_ref, v_event_type, payload);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'malformed structure event %: %', coalesce(event_ref::text, '(null)'), v_problem
            USING ERRCODE = 'IU006';
    END IF;

    INSERT INTO public.iu_tree_change_log
           (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
    VALUES (event_ref,
            v_event_type,
            (payload ->> 'iu_id')::uuid,
            (payload ->> 'operation_id')::uuid,
            payload ->> 'operation_type',
            (payload ->> 'piece_id')::uuid,           -- NULL unless a piece was deprecated
            'fn_iu_structure_consumer')
    ON CONFLICT ON CONSTRAINT iu_tree_change_log_event_ref_key DO NOTHING;  -- re-delivery: +0
    GET DIAGNOSTICS v_added = ROW_COUNT;
    RETURN v_added;
END
$$;

COMMENT ON FUNCTION fn_iu_structure_consumer(uuid, jsonb) IS
    'Internal consumer: projects one structure event into iu_tree_change_log (idempotent). Returns rows added.';

-- functions/operator_audit.sql
-- One audit row per changed row. An UPDATE that changes nothing is not recorded.
CREATE OR REPLACE FUNCTION fn_iu_operator_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    v_after  jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    v_row    jsonb := coalesce(v_after, v_before);
BEGIN
    IF TG_OP = 'UPDATE' AND v_before = v_after THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
    VALUES (coalesce(nullif(current_setting('iu_core.actor', true), ''), session_user::text),
            nullif(current_setting('iu_core.context', true), ''),
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN 'route'
                               WHEN 'iu_internal_consumer' THEN 'consumer'
                               ELSE 'config' END,
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN v_row ->> 'route_code'
                               WHEN 'iu_internal_consumer' THEN v_row ->> 'consumer_name'
                               ELSE v_row ->> 'key' END,
            lower(TG_OP),
            v_before,
            v_after);
    RETURN NULL;  -- AFTER trigger: the result is ignored
END
$$;

-- functions/report_data.sql
-- Everything a structure report shows about one IU, read in ONE statement so
-- that it comes from one snapshot: the tree, the journal, the relations and
-- the IU's newest event agree with each other even while editors work (the
-- worker's transaction is READ COMMITTED: separate statements could each see
-- a different committed state).
--
-- last_event is the IU's own newest event. Events of one IU are written while
-- its row is locked (structure operations, relations from it, ingest), so
-- when event N of the IU is visible, all its earlier events are committed
-- and visible too: the report reflects exactly the IU's events up to N.
--
-- Piece texts are left out (only their length); a reingest's previous texts
-- are reduced to the ids of the changed pieces.
CREATE OR REPLACE FUNCTION public.fn_iu_structure_report_data(p_iu_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'unit', jsonb_build_object(
        'iu_id', u.iu_id, 'code', u.code, 'title', u.title, 'status', u.status,
        'created_at', u.created_at, 'updated_at', u.updated_at),
    'last_event', (
        SELECT jsonb_build_object('event_id', e.event_id, 'event_seq', e.event_seq,
                                  'event_type', e.event_type, 'occurred_at', e.occurred_at)
          FROM public.event_outbox e
         WHERE e.aggregate_id = u.iu_id
           AND e.aggregate_type = 'information_unit'
         ORDER BY e.event_seq DESC
         LIMIT 1),
    'pieces', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'piece_id', p.piece_id, 'parent_piece_id', p.parent_piece_id,
                   'position', p.position, 'kind', p.kind, 'label', p.label,
                   'heading', p.heading, 'status', p.status, 'chars', length(p.text),
                   'created_by', p.created_by, 'deprecated_by', p.deprecated_by)
                   ORDER BY p.parent_piece_id NULLS FIRST, p.position, p.created_at, p.piece_id)
          FROM public.iu_piece p
         WHERE p.iu_id = u.iu_id), '[]'::jsonb),
    'operations', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'operation_id', o.operation_id, 'operation_seq', o.operation_seq,
                   'operation_type', o.operation_type, 'actor', o.actor,
                   'applied_at', o.applied_at,
                   'parameters', CASE WHEN o.parameters ? 'changed'
                                      THEN (o.parameters - 'changed') || jsonb_build_object(
                                               'changed', coalesce((
                                                   SELECT jsonb_agg(c -> 'piece_id')
                                                     FROM jsonb_array_elements(o.parameters -> 'changed') c),
                                                   '[]'::jsonb))
                                      ELSE o.parameters END)
                   ORDER BY o.operation_seq)
          FROM public.iu_structure_operation o
         WHERE o.iu_id = u.iu_id), '[]'::jsonb),
    'relations_out', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'relation_type', r.relation_type, 'iu_id', t.iu_id, 'code', t.code,
                   'title', t.title, 'actor', r.actor, 'created_at', r.created_at)
                   ORDER BY r.relation_type, t.code)
          FROM public.iu_relation r
          JOIN public.information_unit t ON t.iu_id = r.to_iu_id
         WHERE r.from_iu_id = u.iu_id), '[]'::jsonb),
    'relations_in', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'relation_type', r.relation_type, 'iu_id', f.iu_id, 'code', f.code,
                   'title', f.title, 'actor', r.actor, 'created_at', r.created_at)
                   ORDER BY r.relation_type, f.code)
          FROM public.iu_relation r
          JOIN public.information_unit f ON f.iu_id = r.from_iu_id
         WHERE r.to_iu_id = u.iu_id), '[]'::jsonb))
  FROM public.information_unit u
 WHERE u.iu_id = p_iu_id
$$;

-- functions/retention_horizon.sql
-- The retention horizon: backfill reaches only events with occurred_at at or
-- after horizon_at (NULL: nothing pruned yet) and event_seq above
-- horizon_seq. Events before it, or their deliveries, may have been pruned:
-- delivering them again could repeat a delivery already made, so they are out
-- of reach by construction. FOR SHARE: a prune batch that is moving the
-- horizon finishes first, and none starts until the caller's transaction ends.
CREATE OR REPLACE FUNCTION fn_iu_retention_horizon(OUT horizon_at timestamptz, OUT horizon_seq bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.horizon_at, h.horizon_seq
      FROM public.iu_retention_horizon h
     WHERE h.singleton
       FOR SHARE
$$;

-- functions/retention_prune.sql
-- One prune batch of one history table (iu_core.retention calls it in a loop,
-- one call = one short transaction): takes the next p_limit rows after key
-- p_after in key order, deletes those that are finished and older than
-- p_cutoff (with p_dry_run: only counts them), and says where it stopped.
--   affected  rows deleted (dry run: rows that would be)
--   scanned   rows looked at
--   last_key  the key to continue after
--   done      a whole batch was younger than the cutoff (the walk reached the
--             present), or the end of the table
-- Row locks are taken only on finished rows, which the worker never touches
-- again; no table lock. A batch that prunes events or deliveries first locks
-- and advances the retention horizon (see 012_retention.sql), so a backfill
-- waits for the batch and then starts after what it removed.
CREATE OR REPLACE FUNCTION fn_iu_retention_prune(
    p_table text, p_cutoff timestamptz, p_after bigint, p_limit integer, p_dry_run boolean)
RETURNS TABLE (affected integer, scanned integer, last_key bigint, done boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys    bigint[];
    v_young   boolean;
    v_count   integer;
    v_max_seq bigint;
    v_routes  text[];
BEGIN
    IF p_cutoff IS NULL OR p_cutoff > now() THEN
        RAISE EXCEPTION 'retention cutoff must be in the past' USING ERRCODE = '22023';
    END IF;
    IF NOT p_dry_run AND p_table IN ('event_outbox', 'iu_delivery') THEN
        PERFORM 1 FROM public.iu_retention_horizon h WHERE h.singleton FOR UPDATE;
    END IF;

    IF p_table = 'event_outbox' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT o.event_seq AS k, o.occurred_at AS t FROM public.event_outbox o
                 WHERE o.event_seq > p_after ORDER BY o.event_seq LIMIT p_limit) w;
        v_routes := ARRAY(SELECT r.route_code FROM public.iu_outbound_route r);
        WITH gone AS (
            SELECT o.event_id, o.event_seq
              FROM public.event_outbox o
             WHERE o.event_seq = ANY (v_keys)
               AND o.occurred_at < p_cutoff
               AND NOT EXISTS (SELECT 1 FROM public.iu_delivery d
                                WHERE d.route_code = ANY (v_routes) AND d.event_id = o.event_id
                                  AND d.state IN ('pending', 'inflight', 'retrying', 'held', 'dead'))
               AND NOT EXISTS (SELECT 1 FROM public.iu_route_dead_letter l
                                WHERE l.event_ref = o.event_id AND l.status = 'open')
        ), del AS (
            DELETE FROM public.event_outbox o USING gone g
             WHERE o.event_id = g.event_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;  -- a pruned event cannot be backfilled: horizon_at only

    ELSIF p_table = 'iu_delivery' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT d.delivery_id AS k, d.created_at AS t FROM public.iu_delivery d
                 WHERE d.delivery_id > p_after ORDER BY d.delivery_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT d.delivery_id FROM public.iu_delivery d
             WHERE d.delivery_id = ANY (v_keys)
               AND d.state IN ('sent', 'skipped', 'decided', 'discarded')
               AND d.finished_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_delivery d USING gone g
             WHERE d.delivery_id = g.delivery_id AND NOT p_dry_run
               AND d.state IN ('sent', 'skipped', 'decided', 'discarded')
            RETURNING d.event_seq
        )
        SELECT (SELECT count(*) FROM gone), (SELECT max(del.event_seq) FROM del) INTO v_count, v_max_seq;

    ELSIF p_table = 'iu_route_attempt' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT a.attempt_id AS k, a.started_at AS t FROM public.iu_route_attempt a
                 WHERE a.attempt_id > p_after ORDER BY a.attempt_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT a.attempt_id FROM public.iu_route_attempt a
             WHERE a.attempt_id = ANY (v_keys)
               AND a.started_at < p_cutoff
               AND NOT EXISTS (SELECT 1 FROM public.iu_delivery d
                                WHERE d.route_code = a.route_code AND d.event_id = a.event_ref
                                  AND d.state IN ('pending', 'inflight', 'retrying', 'held', 'dead'))
        ), del AS (
            DELETE FROM public.iu_route_attempt a USING gone g
             WHERE a.attempt_id = g.attempt_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSIF p_table = 'iu_route_decision' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT x.decision_id AS k, x.decided_at AS t FROM public.iu_route_decision x
                 WHERE x.decision_id > p_after ORDER BY x.decision_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT x.decision_id FROM public.iu_route_decision x
             WHERE x.decision_id = ANY (v_keys) AND x.decided_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_route_decision x USING gone g
             WHERE x.decision_id = g.decision_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSIF p_table = 'iu_route_dead_letter' THEN
        -- resolved_at >= created_at: the walk goes by created_at
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT l.dead_letter_id AS k, l.created_at AS t FROM public.iu_route_dead_letter l
                 WHERE l.dead_letter_id > p_after ORDER BY l.dead_letter_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT l.dead_letter_id FROM public.iu_route_dead_letter l
             WHERE l.dead_letter_id = ANY (v_keys)
               AND l.status IN ('replayed', 'discarded')
               AND l.resolved_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_route_dead_letter l USING gone g
             WHERE l.dead_letter_id = g.dead_letter_id AND NOT p_dry_run
               AND l.status IN ('replayed', 'discarded')
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSE
        RAISE EXCEPTION 'not a history table: %', p_table USING ERRCODE = '22023';
    END IF;

    IF NOT p_dry_run AND p_table IN ('event_outbox', 'iu_delivery') THEN
        UPDATE public.iu_retention_horizon h
           SET horizon_at = greatest(h.horizon_at, p_cutoff),
               horizon_seq = greatest(h.horizon_seq, coalesce(v_max_seq, 0))
         WHERE h.singleton;
    END IF;

    RETURN QUERY SELECT coalesce(v_count, 0), coalesce(cardinality(v_keys), 0),
                        coalesce(v_keys[cardinality(v_keys)], p_after),
                        coalesce(cardinality(v_keys), 0) < p_limit OR coalesce(v_young, false);
END
$$;

-- functions/route_credentials.sql
-- Make p_secret the current credential of (route, kind). The credential it
-- replaces stays valid for p_window (0: deleted at once); older superseded ones
-- are deleted, so at most two secrets sign at any time (new and previous), and
-- a credential that no longer signs is not kept.
CREATE OR REPLACE FUNCTION fn_iu_route_credential_replace(
    p_route_code  text,
    p_kind        text,
    p_secret      text,
    p_fingerprint text,
    p_window      interval
) RETURNS timestamptz  -- until when the replaced credential stays valid (NULL: there was none)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_valid_until timestamptz;
BEGIN
    IF p_window < interval '0' THEN
        RAISE EXCEPTION 'rotation window must not be negative' USING ERRCODE = '22023';
    END IF;
    -- Lock the route: concurrent rotations of one route serialise here.
    PERFORM 1 FROM public.iu_outbound_route WHERE route_code = p_route_code FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', p_route_code USING ERRCODE = 'IU004';
    END IF;

    DELETE FROM public.iu_route_credential             -- the previous-but-one: stops signing now
     WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NOT NULL;

    IF p_window > interval '0' THEN
        UPDATE public.iu_route_credential              -- current -> previous, for the window
           SET superseded_at = now(),
               valid_until   = now() + p_window
         WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NULL
        RETURNING valid_until INTO v_valid_until;
    ELSE
        DELETE FROM public.iu_route_credential         -- no window: the old one is gone at once
         WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NULL;
    END IF;

    INSERT INTO public.iu_route_credential (route_code, kind, secret, fingerprint)
    VALUES (p_route_code, p_kind, p_secret, p_fingerprint);
    RETURN v_valid_until;
END
$$;

-- Enable or disable a route by an operator (`iu-core route enable|disable`).
-- The delivery guard refuses ANY update of a live route while the gate is
-- closed or the route is off the allowlist; then the route is also put back
-- into dry-run (always allowed), as the worker does on HTTP 410: fail-closed,
-- and the caller is told (forced_dry_run).
CREATE OR REPLACE FUNCTION fn_iu_route_set_enabled(
    p_route_code text,
    p_enabled    boolean,
    p_reason     text,
    OUT route_code      text,
    OUT enabled         boolean,
    OUT disabled_reason text,
    OUT dry_run         boolean,
    OUT forced_dry_run  boolean
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    forced_dry_run := false;
    BEGIN
        UPDATE public.iu_outbound_route r
           SET enabled         = p_enabled,
               disabled_reason = CASE WHEN p_enabled THEN NULL ELSE left(p_reason, 500) END,
               updated_at      = now()
         WHERE r.route_code = p_route_code
        RETURNING r.route_code, r.enabled, r.disabled_reason, r.dry_run
             INTO route_code, enabled, disabled_reason, dry_run;
    EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
        UPDATE public.iu_outbound_route r
           SET enabled         = p_enabled,
               disabled_reason = CASE WHEN p_enabled THEN NULL ELSE left(p_reason, 500) END,
               dry_run         = true,
               updated_at      = now()
         WHERE r.route_code = p_route_code
        RETURNING r.route_code, r.enabled, r.disabled_reason, r.dry_run
             INTO route_code, enabled, disabled_reason, dry_run;
        forced_dry_run := true;
    END;
    IF route_code IS NULL THEN
        RAISE EXCEPTION 'unknown route %', p_route_code USING ERRCODE = 'IU004';
    END IF;
END
$$;

-- functions/route_deliver.sql
-- Checks, in this order, each refusal with its own SQLSTATE:
--   IU001  the delivery gate is closed
--   IU004  the route is unknown
--   IU008  the route is disabled
--   IU002  the route is not on the live allowlist
--   IU003  the route is still dry-run
--   0A000  the route's target kind is not sql_function (the Python worker
--          delivers those kinds, behind the same checks)
--   IU005  the route's target_ref is not a registered internal consumer
-- then calls the registered consumer and returns
--   {"status":"sent","delivered":true,"target_kind":"sql_function",
--    "detail":{"consumer":<name>,"rows_added":0|1}}
-- A refusal raises, so the caller's transaction writes nothing.
CREATE OR REPLACE FUNCTION fn_iu_route_deliver(p_route_code text, p_event_ref uuid, p_payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_refusal  record;
    v_name     text;
    v_consumer regprocedure;
    v_schema   name;
    v_function name;
    v_added    integer;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        v_route.route_code := NULL;
    END IF;
    -- The one answer to "may this route deliver now"; an open circuit is the
    -- worker's pacing, not a refusal of the seam.
    SELECT * INTO v_refusal FROM public.fn_iu_route_refusal(v_route) f;
    IF v_refusal.reason IS NOT NULL AND v_refusal.reason <> 'circuit_open' THEN
        RAISE EXCEPTION USING
            MESSAGE = 'delivery refused: ' || CASE WHEN v_refusal.reason = 'unknown_route'
                                                   THEN 'unknown route ' || coalesce(quote_literal(p_route_code), '(null)')
                                                   ELSE v_refusal.message END,
            ERRCODE = v_refusal.sqlstate,
            HINT = v_refusal.hint;
    END IF;

    IF v_route.target_kind <> 'sql_function' THEN
        RAISE EXCEPTION 'delivery refused for route %: target kind % is not deliverable from SQL',
                        p_route_code, v_route.target_kind
            USING ERRCODE = 'feature_not_supported',     -- 0A000
                  HINT = 'the worker delivers this kind (iu-core worker)';
    END IF;

    -- target_ref is compared with the registry, never executed or parsed.
    SELECT c.consumer_name, c.consumer INTO v_name, v_consumer
      FROM public.iu_internal_consumer c
     WHERE c.consumer_name = v_route.target_ref;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery refused for route %: % is not a registered internal consumer',
                        p_route_code, quote_literal(v_route.target_ref)
            USING ERRCODE = 'IU005';
    END IF;

    IF v_consumer = 'public.fn_iu_structure_consumer(uuid, jsonb)'::regprocedure THEN
        -- The built-in consumer is called statically: its plan is cached, where
        -- EXECUTE would parse and plan the call again for every event.
        v_added := public.fn_iu_structure_consumer(p_event_ref, p_payload);
    ELSE
        -- Any other registered consumer: schema and name come from pg_proc
        -- (the registered oid, signature re-checked), quoted by %I.
        SELECT n.nspname, p.proname INTO v_schema, v_function
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE p.oid = v_consumer
           AND p.proargtypes = '2950 3802'::oidvector
           AND p.prorettype = 'integer'::regtype;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'delivery refused for route %: consumer % no longer has the signature (uuid, jsonb) -> integer',
                            p_route_code, quote_literal(v_name)
                USING ERRCODE = 'IU005';
        END IF;
        EXECUTE format('SELECT %I.%I($1, $2)', v_schema, v_function)
           INTO v_added
          USING p_event_ref, p_payload;
    END IF;

    RETURN jsonb_build_object(
        'status', 'sent',
        'delivered', true,
        'target_kind', 'sql_function',
        'detail', jsonb_build_object('consumer', v_name, 'rows_added', coalesce(v_added, 0)));
END
$$;

COMMENT ON FUNCTION fn_iu_route_deliver(text, uuid, jsonb) IS
    'The SQL delivery primitive (seam of record): fail-closed checks, then the registered internal consumer.';

-- functions/route_guard.sql
-- The guard: a route may be live (dry_run = false) only while the gate is open
-- AND the route is on the allowlist. Checked on every insert and update, so a
-- live row can never be written in any other state. The answer comes from
-- fn_iu_route_refusal; only its gate and allowlist reasons concern the guard
-- (a disabled route may keep its mode), so the row is judged as if enabled.
CREATE OR REPLACE FUNCTION fn_iu_outbound_route_delivery_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row     public.iu_outbound_route%ROWTYPE;
    v_refusal record;
BEGIN
    IF NEW.dry_run IS DISTINCT FROM false THEN
        RETURN NEW;                      -- dry-run rows are always allowed
    END IF;
    v_row := NEW;
    v_row.enabled := true;
    SELECT * INTO v_refusal FROM public.fn_iu_route_refusal(v_row) f;
    IF v_refusal.reason IN ('gate_closed', 'not_allowlisted') THEN
        RAISE EXCEPTION USING
            MESSAGE = format('route %s cannot be live: %s', NEW.route_code,
                             CASE v_refusal.reason WHEN 'gate_closed' THEN 'the delivery gate is closed'
                                                   ELSE 'it is not on the live allowlist' END),
            ERRCODE = v_refusal.sqlstate,
            HINT = CASE v_refusal.reason WHEN 'gate_closed' THEN 'open the gate first (iu-core gate open)'
                                         ELSE 'add it first (iu-core allowlist add ROUTE)' END;
    END IF;
    RETURN NEW;
END
$$;

-- functions/route_refusal.sql
-- May this route deliver now, and if not, why: the one answer every caller
-- uses (the SQL seam, the worker's batches, the route guard, the CLI and the
-- console). NULL reason: it may. Otherwise one row naming the reason, the
-- SQLSTATE a refusing caller raises, a message and a hint. The checks run in
-- this order, and the first that fails is the answer:
--
--   gate_closed      IU001  the delivery gate is closed
--   unknown_route    IU004  no such route (a NULL row)
--   disabled         IU008  the route is disabled (by an operator, a 410, or failing for too long)
--   not_allowlisted  IU002  the route is not on the live allowlist
--   dry_run          IU003  the route is still dry-run
--   circuit_open     IU009  the route's circuit breaker is open (cooling down)
--
-- The kind of the route's target is not judged here: SQL delivers only
-- sql_function (the seam raises 0A000 for the others), and which other kinds
-- are built is known to the Python worker's registry.
CREATE OR REPLACE FUNCTION fn_iu_route_refusal(p_route public.iu_outbound_route)
RETURNS TABLE (reason text, sqlstate text, message text, hint text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_gate       jsonb;
    v_allow      jsonb;
    v_open_until timestamptz;
    v_code       text := coalesce(quote_literal(p_route.route_code), '(null)');
BEGIN
    -- One statement reads both switches: this runs once per delivered event.
    -- The gate is open only on JSON true; anything but an array allows nothing.
    SELECT (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_enabled'),
           (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_live_routes')
      INTO v_gate, v_allow;

    IF v_gate IS DISTINCT FROM 'true'::jsonb THEN
        RETURN QUERY SELECT 'gate_closed', 'IU001',
            format('route %s: the delivery gate is closed', v_code), 'open the gate first (iu-core gate open)';
    ELSIF p_route.route_code IS NULL THEN
        RETURN QUERY SELECT 'unknown_route', 'IU004', 'unknown route', 'iu-core route list';
    ELSIF NOT p_route.enabled THEN
        RETURN QUERY SELECT 'disabled', 'IU008',
            format('route %s is disabled (%s)', v_code, coalesce(p_route.disabled_reason, 'no reason given')),
            'iu-core route enable ROUTE';
    ELSIF NOT (jsonb_typeof(v_allow) = 'array' AND v_allow @> jsonb_build_array(p_route.route_code)) THEN
        RETURN QUERY SELECT 'not_allowlisted', 'IU002',
            format('route %s is not on the live allowlist', v_code), 'iu-core allowlist add ROUTE';
    ELSIF p_route.dry_run THEN
        RETURN QUERY SELECT 'dry_run', 'IU003',
            format('route %s is still dry-run', v_code), 'iu-core route set ROUTE --live';
    ELSE
        SELECT c.open_until INTO v_open_until
          FROM public.iu_route_circuit c WHERE c.route_code = p_route.route_code;
        IF v_open_until > now() THEN
            RETURN QUERY SELECT 'circuit_open', 'IU009',
                format('route %s: the circuit is open until %s', v_code, v_open_until),
                'wait for the cool-down, or fix the target';
        END IF;
    END IF;
END
$$;

-- The same answer by route code, for callers that hold only the code.
CREATE OR REPLACE FUNCTION fn_iu_route_refusal_by_code(p_route_code text)
RETURNS TABLE (reason text, sqlstate text, message text, hint text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.reason, f.sqlstate,
           CASE WHEN f.reason = 'unknown_route'
                THEN format('unknown route %s', coalesce(quote_literal(p_route_code), '(null)'))
                ELSE f.message END,
           f.hint
      FROM public.fn_iu_route_refusal(
               (SELECT r FROM public.iu_outbound_route r WHERE r.route_code = p_route_code)) f
$$;

-- functions/worker_backfill.sql
-- Backfill: deliveries for a route's events that predate it (or all since a
-- time). On a live route, events it saw only in dry-run (state decided) are
-- delivered now too: the decision said what it WOULD have done, and going
-- live is when that becomes real. Every other delivery is left alone.
-- Backfill never reaches before the retention horizon (fn_iu_retention_horizon):
-- an event older than it, or its delivery, may have been pruned, and delivering
-- it again could repeat a delivery already made. It says so with a NOTICE.
CREATE OR REPLACE FUNCTION fn_iu_worker_backfill(p_route_code text, p_since timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event_type  text;
    v_live        boolean;
    v_added       integer;
    v_horizon_at  timestamptz;
    v_horizon_seq bigint;
BEGIN
    SELECT r.event_type, NOT r.dry_run INTO v_event_type, v_live
      FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', quote_literal(p_route_code) USING ERRCODE = 'IU004';
    END IF;
    SELECT h.horizon_at, h.horizon_seq INTO v_horizon_at, v_horizon_seq
      FROM public.fn_iu_retention_horizon() h;
    IF v_horizon_at IS NOT NULL AND (p_since IS NULL OR p_since < v_horizon_at) THEN
        RAISE NOTICE 'backfill starts at the retention horizon %: older history may have been pruned',
            v_horizon_at;
    END IF;
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT p_route_code, o.event_id, o.event_seq, o.aggregate_id
      FROM public.event_outbox o
     WHERE o.event_type = v_event_type
       AND (p_since IS NULL OR o.occurred_at >= p_since)
       AND (v_horizon_at IS NULL OR o.occurred_at >= v_horizon_at)
       AND o.event_seq > coalesce(v_horizon_seq, 0)
     ORDER BY o.event_seq
    ON CONFLICT (route_code, event_id) DO UPDATE
       SET state = 'pending', available_at = now(), finished_at = NULL, last_error = NULL
     WHERE public.iu_delivery.state = 'decided' AND v_live;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    IF v_added > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_added;
END
$$;

-- functions/worker_claim.sql
-- Claims the heads of up to p_limit streams (only the head event of an IU is
-- ever in flight on a route) and leases them for p_lease_s seconds under a
-- fresh token. A delivery whose previous lease expired (its worker died) gets
-- a failed attempt row for the lost attempt first; if that was its last
-- attempt it goes to the dead-letter queue instead of being claimed again.
CREATE OR REPLACE FUNCTION fn_iu_worker_claim(p_route_code text, p_limit integer, p_worker text, p_lease_s numeric)
RETURNS TABLE (delivery_id bigint, event_id uuid, event_seq bigint, aggregate_id uuid, event_type text,
               payload jsonb, occurred_at timestamptz, attempt_no integer, lease_token uuid)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- functions/worker_decide.sql
-- One transaction: claims due deliveries of a dry-run route, records what
-- would have been delivered (kind, ref) and marks them decided. No gate, no
-- allowlist, no target: nothing leaves the database. Returns decisions made.
CREATE OR REPLACE FUNCTION fn_iu_worker_decide_batch(p_route_code text, p_limit integer) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- functions/worker_disable_failing.sql
-- After a batch of outcomes is recorded: keep the start of the route's current
-- run of failures, and disable a route that has failed every attempt for its
-- disable_after_failing_hours (72 by default) with no success in between.
-- The clock starts again when the route is changed (updated_at, e.g. by
-- `iu-core route enable`), so an operator who brings a route back gets a full
-- window. The disable is audited as the worker's; if the delivery guard refuses
-- the update (gate closed meanwhile) the route is also put into dry-run, like
-- the 410 disable of fn_iu_worker_record. Returns the reason when it disabled.
CREATE OR REPLACE FUNCTION fn_iu_worker_disable_failing(p_route_code text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_failures  integer;
    v_since     timestamptz;
    v_hours     numeric;
    v_updated   timestamptz;
    v_enabled   boolean;
    v_reason    text;
BEGIN
    SELECT c.consecutive_failures, c.failing_since INTO v_failures, v_since
      FROM public.iu_route_circuit c WHERE c.route_code = p_route_code;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_failures = 0 THEN
        IF v_since IS NOT NULL THEN
            UPDATE public.iu_route_circuit SET failing_since = NULL WHERE route_code = p_route_code;
        END IF;
        RETURN NULL;
    END IF;
    IF v_since IS NULL THEN
        UPDATE public.iu_route_circuit SET failing_since = now() WHERE route_code = p_route_code;
        RETURN NULL;
    END IF;
    SELECT r.disable_after_failing_hours, r.updated_at, r.enabled INTO v_hours, v_updated, v_enabled
      FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT coalesce(v_enabled, false)
       OR greatest(v_since, v_updated) > now() - make_interval(secs => (v_hours * 3600)::float8) THEN
        RETURN NULL;
    END IF;
    v_reason := format('disabled automatically: every attempt failed for %s hours with no success since %s '
                       '(iu-core route enable %s brings it back)',
                       trim(trailing '.' FROM trim(trailing '0' FROM v_hours::text)),
                       to_char(v_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), p_route_code);
    PERFORM pg_catalog.set_config('iu_core.actor', 'iu-core worker', true);
    PERFORM pg_catalog.set_config('iu_core.context', 'auto-disable: endpoint failing', true);
    BEGIN
        UPDATE public.iu_outbound_route
           SET enabled = false, disabled_reason = left(v_reason, 500), updated_at = now()
         WHERE route_code = p_route_code;
    EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
        UPDATE public.iu_outbound_route
           SET enabled = false, dry_run = true, disabled_reason = left(v_reason, 500), updated_at = now()
         WHERE route_code = p_route_code;
    END;
    UPDATE public.iu_route_circuit SET failing_since = NULL WHERE route_code = p_route_code;
    RETURN v_reason;
END
$$;

-- Gives claimed-but-unsent deliveries back without counting an attempt (the
-- worker stopped sending to the route, e.g. right after an HTTP 410). Fenced by
-- the lease token like a result; the rows become due again at once, and a
-- disabled route simply does not claim them.
CREATE OR REPLACE FUNCTION fn_iu_worker_release(p_ids bigint[], p_leases uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET state = CASE WHEN d.attempts - 1 > 0 THEN 'retrying' ELSE 'pending' END,
           attempts = d.attempts - 1,
           lease_owner = NULL,
           lease_token = NULL,
           available_at = now()
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- Extends the leases of deliveries still in flight (one statement for many).
CREATE OR REPLACE FUNCTION fn_iu_worker_renew(p_ids bigint[], p_leases uuid[], p_lease_s numeric) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET available_at = now() + make_interval(secs => greatest(p_lease_s, 1)::float8)
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- functions/worker_ordering.sql
-- Releases the earliest held delivery of each given IU on the route (one per
-- stream: it becomes the stream's next head; the rest stay held behind it).
CREATE OR REPLACE FUNCTION fn_iu_worker_release_held(p_route_code text, p_aggregates uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_released integer;
    v_heads    bigint[];
BEGIN
    IF p_aggregates IS NULL OR cardinality(p_aggregates) = 0
       OR NOT EXISTS (SELECT 1 FROM public.iu_delivery h
                       WHERE h.route_code = p_route_code AND h.state = 'held') THEN
        RETURN 0;
    END IF;
    -- The next heads first, then an update by primary key: joined in one
    -- statement, the planner (expecting one held row) looped over every held
    -- row of the table and rescanned the heads for each (a second per record
    -- with a thousand held, as several workers hold).
    SELECT array_agg(x.delivery_id) INTO v_heads
      FROM (SELECT DISTINCT ON (e.aggregate_id) e.delivery_id
              FROM public.iu_delivery e
             WHERE e.route_code = p_route_code
               AND e.aggregate_id = ANY (p_aggregates)
               AND e.state = 'held'
             ORDER BY e.aggregate_id, e.event_seq) x;
    -- available_at keeps its original (earlier) value: the claim takes rows in
    -- (available_at, event_seq) order, and a released head must come before
    -- the still-pending later rows of its own and other streams. Stamped with
    -- now(), it would sort behind them, and a claim window filled with rows
    -- blocked behind pending heads would never reach the heads.
    UPDATE public.iu_delivery h
       SET state = 'pending', available_at = least(h.available_at, now())
     WHERE h.delivery_id = ANY (v_heads)
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
CREATE OR REPLACE FUNCTION fn_iu_worker_hold(p_route_code text, p_blocked bigint[], p_strict boolean) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- Claims up to p_limit due deliveries of one route (FOR UPDATE SKIP LOCKED on
-- the claim index, so concurrent workers take disjoint rows) and splits them:
--   ready   no earlier unfinished delivery of the same IU on this route outside
--           the claimed set (p_heads_only: none at all, i.e. the stream's head)
--   blocked the rest: put on hold when their blocker lasts (fn_iu_worker_hold),
--           else left pending; their row locks end with this transaction.
-- The claimed rows stay locked by the calling transaction.
CREATE OR REPLACE FUNCTION fn_iu_worker_claim_rows(
    p_route_code text, p_limit integer, p_strict boolean, p_heads_only boolean,
    OUT ready bigint[], OUT blocked bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- functions/worker_record.sql
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
CREATE OR REPLACE FUNCTION fn_iu_worker_record(
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
SET search_path = pg_catalog, pg_temp
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
         WHERE d.delivery_id = ANY (p_ids)  -- the primary key's index: without it, a hash of the whole backlog
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

-- functions/worker_route_blocked.sql
-- NULL when the route's deliveries may be claimed now, else why not. Checked
-- inside each batch's own transaction, so a gate closed a moment ago pauses
-- the next batch: nothing is claimed, dead-lettered or lost. Dry-run
-- decisions deliver nothing, so they need neither gate nor allowlist: only an
-- unknown or disabled route stops them. Everything else is the route's
-- refusal (fn_iu_route_refusal).
CREATE OR REPLACE FUNCTION fn_iu_worker_route_blocked(p_route public.iu_outbound_route) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_reason text;
BEGIN
    IF p_route.route_code IS NULL THEN
        RETURN 'unknown route';
    END IF;
    IF NOT p_route.enabled THEN
        RETURN 'disabled';
    END IF;
    IF p_route.dry_run THEN
        RETURN NULL;
    END IF;
    SELECT CASE f.reason WHEN 'gate_closed' THEN 'paused: the delivery gate is closed'
                         WHEN 'not_allowlisted' THEN 'paused: not on the live allowlist'
                         WHEN 'circuit_open' THEN 'circuit open'
                         ELSE f.reason END
      INTO v_reason
      FROM public.fn_iu_route_refusal(p_route) f;
    RETURN v_reason;
END
$$;

-- How many deliveries a batch may take: one probe while the circuit is half-open.
CREATE OR REPLACE FUNCTION fn_iu_worker_batch_limit(p_route public.iu_outbound_route, p_limit integer) RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN coalesce((SELECT c.consecutive_failures >= p_route.circuit_failure_threshold
                                 FROM public.iu_route_circuit c
                                WHERE c.route_code = p_route.route_code), false)
                THEN 1 ELSE greatest(p_limit, 1) END
$$;

-- functions/worker_sql_batch.sql
-- Claims, delivers in event_seq order, writes the attempt rows and the
-- deliveries' new states, all in the caller's single transaction: the
-- projection row, the attempt and the state commit together or not at all, so
-- a worker killed at any instant leaves either the whole batch done or nothing
-- (exactly-once effect; rows locked, no lease needed). Every delivered event
-- gets its own attempt row.
--
-- May this route deliver: asked ONCE per batch, of fn_iu_route_refusal (through
-- fn_iu_worker_route_blocked), at the start of the batch's own transaction,
-- plus the two checks of the seam that are not refusals (kind sql_function,
-- target_ref a registered consumer). As safe as asking per event: the batch's
-- deliveries all become visible at its one commit, so with a per-event check
-- too a gate closed (or allowlist/route changed) during a batch could not stop
-- the events already checked in it; either way every committed delivery was
-- allowed by a check inside its own transaction, and at most the batch in
-- progress on each lane commits after the change. The next batch asks again.
--
-- Fast path for the built-in consumer (fn_iu_structure_consumer): the batch
-- is judged by fn_iu_structure_problem (the consumer's own judgement) and
-- projected by ONE INSERT ... SELECT ... ON CONFLICT DO NOTHING; each event's
-- attempt detail says whether its row was added (1) or already there (0),
-- exactly as the seam would. Any other registered consumer: the seam of record
-- fn_iu_route_deliver once per event (its checks again, then the consumer).
--
-- When any event is malformed or a delivery raises, the fast path rolls back
-- and the batch runs again one event at a time through fn_iu_route_deliver,
-- each in its own block, so one bad event fails alone: later events of its IU
-- in the batch are left for later (they will wait behind it), other IUs go on.
-- A refusal of the seam (gate closed, not allowlisted, dry-run, disabled, kind
-- changed) stops the batch: the rest stays pending.
--
-- Failures: IU006 (malformed payload) and data/integrity errors (22xxx, 23xxx)
-- are permanent; anything else (IU005 an unregistered consumer, a deadlock, ...)
-- is retried with backoff.
CREATE OR REPLACE FUNCTION fn_iu_worker_deliver_sql_batch(p_route_code text, p_limit integer)
RETURNS TABLE (claimed integer, sent integer, retrying integer, dead integer, blocked integer, paused text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_reason   text;
    v_ready    bigint[];
    v_blocked  bigint[];
    v_ids      bigint[] := '{}';
    v_events   uuid[];
    v_added    uuid[];
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
    v_consumer regprocedure;
    v_problems integer;
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

    SELECT c.consumer INTO v_consumer
      FROM public.iu_internal_consumer c WHERE c.consumer_name = v_route.target_ref;

    BEGIN  -- fast path
      IF v_consumer = 'public.fn_iu_structure_consumer(uuid, jsonb)'::regprocedure THEN
        -- set-based: the built-in consumer's validation and insert for the whole batch
        v_t0 := clock_timestamp();
        WITH r AS MATERIALIZED (
            SELECT u.ord, d.delivery_id, d.attempts + 1 AS attempt_no, d.event_id, o.payload, t.event_type,
                   public.fn_iu_structure_problem(d.event_id, t.event_type, o.payload) AS problem
              FROM unnest(v_ready) WITH ORDINALITY AS u(id, ord)
              JOIN public.iu_delivery d ON d.delivery_id = u.id
              LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
             CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(o.payload) = 'object'
                                             THEN coalesce(o.payload ->> 'event_type', o.event_type) END
                                        AS event_type) t
             WHERE d.delivery_id = ANY (v_ready)  -- the primary key's index, never a scan of the backlog
        ), bad AS (
            SELECT count(*) AS n FROM r WHERE r.problem IS NOT NULL
        ), ins AS (
            INSERT INTO public.iu_tree_change_log
                   (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
            SELECT r.event_id, r.event_type, (r.payload ->> 'iu_id')::uuid, (r.payload ->> 'operation_id')::uuid,
                   r.payload ->> 'operation_type', (r.payload ->> 'piece_id')::uuid, 'fn_iu_structure_consumer'
              FROM r
             WHERE (SELECT bad.n FROM bad) = 0
             ORDER BY r.ord
            ON CONFLICT ON CONSTRAINT iu_tree_change_log_event_ref_key DO NOTHING  -- re-delivery: +0
            RETURNING event_ref
        )
        -- No join of r with ins: the plan PostgreSQL caches after five calls
        -- does not know the batch's size and joins them by a nested loop
        -- (batch-squared: 10 ms of a 500-event batch).
        SELECT (SELECT bad.n FROM bad),
               (SELECT coalesce(array_agg(i.event_ref), '{}') FROM ins i),
               array_agg(r.delivery_id ORDER BY r.ord),
               array_agg(r.attempt_no ORDER BY r.ord),
               array_agg(r.event_id ORDER BY r.ord)
          INTO v_problems, v_added, v_ids, v_nos, v_events
          FROM r;
        IF v_problems > 0 THEN
            RAISE EXCEPTION 'malformed structure event in the batch' USING ERRCODE = 'IU006';  -- to the slow path
        END IF;
        IF cardinality(v_added) = cardinality(v_ids) THEN  -- every row new: the usual case
            v_details := array_fill(jsonb_build_object('consumer', v_route.target_ref, 'rows_added', 1),
                                    ARRAY[cardinality(v_ids)]);
        ELSE  -- some were delivered before (a re-delivery): +0 for those
            SELECT array_agg(jsonb_build_object('consumer', v_route.target_ref,
                                                'rows_added', (u.event_id = ANY (v_added))::integer)
                             ORDER BY u.ord)
              INTO v_details
              FROM unnest(v_events) WITH ORDINALITY AS u(event_id, ord);
        END IF;
        v_statuses := array_fill('sent'::text, ARRAY[cardinality(v_ids)]);
        v_started := array_fill(v_t0, ARRAY[cardinality(v_ids)]);
        v_finished := array_fill(clock_timestamp(), ARRAY[cardinality(v_ids)]);
      ELSE
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
      END IF;
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

-- functions/worker_sweep.sql
-- Safety net, run every few seconds by a worker: a held row whose stream has
-- no earlier unfinished delivery any more is released. (Covers a route whose
-- ordering policy changed from strict to relaxed, or a route switched to
-- dry-run, while rows were held.)
CREATE OR REPLACE FUNCTION fn_iu_worker_sweep() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- schema/wiring.sql
-- What ties the tables to the functions: every trigger, and the registration
-- of the built-in internal consumer. Applied on a fresh install after the
-- function files (a trigger needs its function; a registration its regprocedure).

-- The built-in internal consumer: structure events -> iu_tree_change_log.
INSERT INTO iu_internal_consumer (consumer_name, consumer, description) VALUES
    ('fn_iu_structure_consumer', 'fn_iu_structure_consumer(uuid, jsonb)'::regprocedure,
     'Projects structure_op_applied / structure_piece_deprecated events into iu_tree_change_log.');

-- Routes: the guard (a live row only while the gate is open and the route allowlisted).
CREATE TRIGGER trg_iu_outbound_route_delivery_guard
    BEFORE INSERT OR UPDATE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_outbound_route_delivery_guard();

-- Consumers: the registered function must be (uuid, jsonb) -> integer.
CREATE TRIGGER trg_iu_internal_consumer_check
    BEFORE INSERT OR UPDATE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_internal_consumer_check();

-- Append-only tables refuse UPDATE.
CREATE TRIGGER trg_iu_tree_change_log_append_only
    BEFORE UPDATE ON iu_tree_change_log
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();
CREATE TRIGGER trg_iu_operator_audit_append_only
    BEFORE UPDATE ON iu_operator_audit
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();

-- Fan-out without gaps: one delivery per matching route, in the event's own transaction.
CREATE TRIGGER trg_event_outbox_fan_out
    AFTER INSERT ON event_outbox
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_fan_out();

-- Wake the workers when the switches or the routes change; clean up after a removed route.
CREATE TRIGGER trg_dot_config_wake_worker
    AFTER INSERT OR UPDATE ON dot_config
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();
CREATE TRIGGER trg_iu_outbound_route_wake_worker
    AFTER INSERT OR UPDATE ON iu_outbound_route
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();
CREATE TRIGGER trg_iu_outbound_route_removed
    AFTER DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_delivery_route_removed();

-- The operator audit trail.
CREATE TRIGGER trg_iu_outbound_route_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
CREATE TRIGGER trg_dot_config_audit
    AFTER INSERT OR UPDATE OR DELETE ON dot_config
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
CREATE TRIGGER trg_iu_internal_consumer_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();

-- grants.sql
-- Who may run what. Applied by `iu-core db migrate` after the function files,
-- every time, so a new function is never left executable by PUBLIC.
--
-- Two roles (NOLOGIN; a deployment grants them to its login roles):
--   iu_core_worker    claims, delivers and records deliveries
--   iu_core_operator  everything the worker may, plus the gate, the allowlist,
--                     routes, credentials and dead letters
-- A role holding neither may call no IU Core function and change no delivery
-- state: it can deliver nothing and open nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'iu_core_worker') THEN
        CREATE ROLE iu_core_worker NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'iu_core_operator') THEN
        CREATE ROLE iu_core_operator NOLOGIN;
    END IF;
END
$$;

GRANT iu_core_worker TO iu_core_operator;

-- Functions: none for PUBLIC; all to the roles (the operator's are useless to
-- a worker without the table privileges below).
DO $$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' AND p.proname LIKE 'fn\_iu\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO iu_core_worker', v_fn);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO iu_core_worker;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO iu_core_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO iu_core_worker;
GRANT INSERT, UPDATE, DELETE ON iu_delivery, iu_route_attempt, iu_route_dead_letter, iu_route_decision,
                                iu_route_circuit, iu_tree_change_log
   TO iu_core_worker;
-- A route disabled by the worker (HTTP 410, failing too long) is written by the worker.
GRANT UPDATE ON iu_outbound_route TO iu_core_worker;
GRANT INSERT ON iu_operator_audit TO iu_core_worker;
-- Retention: the worker prunes finished history (never what is unfinished).
GRANT DELETE ON event_outbox TO iu_core_worker;

GRANT INSERT, UPDATE, DELETE ON dot_config, iu_outbound_route, iu_route_credential, iu_internal_consumer
   TO iu_core_operator;

-- What the in-transaction targets write, where their tables exist.
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['iu_vector_piece', 'iu_vector_delivery', 'iu_structure_report',
                                   'iu_retention_horizon'] LOOP
        IF pg_catalog.to_regclass('public.' || v_table) IS NOT NULL THEN
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON public.%I TO iu_core_worker', v_table);
        END IF;
    END LOOP;
END
$$;

-- The operator sets retention; nobody but the console reads its users' password hashes.
DO $$
BEGIN
    IF pg_catalog.to_regclass('public.iu_retention_setting') IS NOT NULL THEN
        GRANT INSERT, UPDATE ON public.iu_retention_setting TO iu_core_operator;
    END IF;
    IF pg_catalog.to_regclass('public.iu_console_user') IS NOT NULL THEN
        REVOKE SELECT ON public.iu_console_user FROM iu_core_worker;
    END IF;
END
$$;

-- The ledger, as that release recorded a fresh install.
CREATE TABLE IF NOT EXISTS iu_schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS iu_schema_function (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO iu_schema_migration (version, name, checksum) VALUES
    (1, 'schema_contract', 'aefb2889f210e236cbf2fc5ef5f40b05434acfb46087ac1448817a21bae5aa68'),
    (2, 'domain', '1b069bfef6d0fec6da42bafd1d67154fc543fa875175687f679433b361651d4b'),
    (3, 'delivery_seam', '59d6f376d1e1f7720e578c2e2a5688b084859c5ce3c98f244d7fd5da060b7584'),
    (4, 'worker', '8755b8963125e1309c4e17c345be5cb5c4e43ce29111cff2e8e95e3fcd7f9c21'),
    (5, 'operator', '41343a38921b23a88c6e7e28bd7937c9d12bcedc8ed23413eb2e3f219d30d8ff'),
    (6, 'http_targets', 'adb143ad4ca3ea7a1f896e53ce29742420878f93b9ca9d36958c50f633da4de7'),
    (7, 'one_house', '94281ca923db91df6a1b93a7b4f5a1ecc26fa0efec96158fe8378658dec4c514'),
    (8, 'http_hardening', 'cb1d1823df1846aed1ee52253856839c2c8dd0e5453c64fb5a37b1ebd34f37ee'),
    (10, 'vector', 'bd97f847dfd7f0d4eb83fa657519e354e0e5a35e4d2ced73884a66043d8ed44f'),
    (11, 'report', '09c6abbd2c55847f9d23e064d64ce1ed89eb971c73d000aeaa0accd21133382b'),
    (12, 'retention', '7d1a0a4b4a4263d6a376e62f2d4d20ccc96622f897d5754d84a62932d2947485'),
    (13, 'console', 'e0da63a16ef7e8b4068bfd8f55753feae2a3e407d6e117ebe661691e7b782dda');
INSERT INTO iu_schema_function (name, checksum) VALUES
    ('append_only', '55cf904d41e17b4fdcdb9068c56a57bf4f4d7bd15ff989513f13317ec8b71f76'),
    ('dead_letters', '1478cf8ef6eceee7589cff47b13797ef67d4c277d183d165e8c72c9cedd59d4f'),
    ('delivery_fan_out', '209edd124c2cb57a4c2eee9aa856aa052f5f8ec00c3146aa3ee7eb7a7c36fe17'),
    ('delivery_gate', '361c58845d87d3aa010861d642df8411f2781149b4cba4f06e108627b4eb1158'),
    ('delivery_macro', '25d5f8ac43842538f19a1808f3be7fea2e35b3e26d106091c201fcad74cf4834'),
    ('internal_consumer', '5a131c4ca5ec225d4ea9f9debbbab2604ce772385091891c8784248c215da9cc'),
    ('operator_audit', '837bc12c7be45376b931223a3d1d7cd5173288bb8efbf7035f407b62271f8a5a'),
    ('report_data', 'c1b7a916df652050cfb797d52a3944a929ec2f48c94bc84081fdb182c8fedd7c'),
    ('retention_horizon', '72b2b39f2817a2bbc92a8b62d4c9ed5cdc439f98b905be60c2a638ce7917c1bb'),
    ('retention_prune', 'c41b77de31b5db997e7c46777e714c83822148935bc38e73b446c16f1c094c62'),
    ('route_credentials', 'a375740a0f429b5738343006e2fc4b74754289066b84165484699aa03b7f1e94'),
    ('route_deliver', '6a1308a2284ab80198b5e5562f229a2d2efd711603f370d7b1c54f58b047b1e2'),
    ('route_guard', '68969d3a84658ec7d5fcae0037e386b2d5783772800ad4500d28b906d197f057'),
    ('route_refusal', '11079f8d5378fc4414b718a1571c5bf8c66d1ae8f9e8c4fe3985f93864bef702'),
    ('worker_backfill', '7ee00ccf34d253c4b3f95663736c84583479c73dcc3742f4394d8048a706a28a'),
    ('worker_claim', 'a0c91bf434148e588ee8fe60e3568c9e6048978b278758c979b70e2a9926b4d8'),
    ('worker_decide', '25b6775f36692f7a67da6a455359eeb8a62956faf0334b8ddd44365e464e44c8'),
    ('worker_disable_failing', '9c83b6f7e5bc1b0277c55b3c4e929fe4eafd11f008c10a44b8a17090d17884d1'),
    ('worker_ordering', 'a18245ed9c034e034bb1a2391bf34262a8b752e5152dda978aa8e6590e54098d'),
    ('worker_record', '347a02ccb720a3add1477e2d5ceb07ed53545d9dd175d0dc2256e0894b986d87'),
    ('worker_route_blocked', '3ebbbf4e2fc00abaa6aa60ea520cd4201c64c66d4b95cb98a2b600e1216bd943'),
    ('worker_sql_batch', '246159fafa6dc1a76d23e5c8aab9cf19845a2da229500cbbf858502a9e723aec'),
    ('worker_sweep', '5f8014b5a4d338eaafe8f43ac21eef4712a4b7b7e2c977110e9fc26721724be0');
