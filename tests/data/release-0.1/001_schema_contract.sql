-- 001 — the schema contract: configuration, the knowledge
-- domain, the transactional outbox, routes and their guard, the worker's audit
-- path, the dead-letter queue and the internal projection.
--
-- Error codes raised by IU Core's SQL (class IU, user-defined):
--   IU001  delivery gate is closed
--   IU002  route is not on the live allowlist
--   IU003  route is still dry-run
--   IU004  unknown route
--   IU005  internal consumer not registered
--   IU006  malformed structure event payload
--   IU007  append-only table refuses UPDATE
--   IU008  route is disabled
--   0A000  (feature_not_supported) target kind not deliverable from SQL


-- ---------------------------------------------------------------------------
-- Configuration
-- ---------------------------------------------------------------------------
CREATE TABLE dot_config (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dot_config IS 'Key/value configuration. iu_core.delivery_enabled is the delivery gate; iu_core.delivery_live_routes the live allowlist.';

INSERT INTO dot_config (key, value) VALUES
    ('iu_core.delivery_enabled', 'false'::jsonb),     -- the gate: closed
    ('iu_core.delivery_live_routes', '[]'::jsonb);    -- the allowlist: empty

-- The gate is open only when the key holds JSON true; a missing or malformed
-- key reads as closed (fail-closed).
CREATE FUNCTION fn_iu_delivery_gate_open() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, public
AS $$
    SELECT coalesce(
        (SELECT value = 'true'::jsonb FROM public.dot_config
          WHERE key = 'iu_core.delivery_enabled'),
        false)
$$;

-- A route is allowlisted when its code is a string element of the JSON array;
-- anything but an array reads as an empty allowlist.
CREATE FUNCTION fn_iu_route_allowlisted(p_route_code text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, public
AS $$
    SELECT coalesce(
        (SELECT jsonb_typeof(value) = 'array' AND value @> jsonb_build_array(p_route_code)
           FROM public.dot_config
          WHERE key = 'iu_core.delivery_live_routes'),
        false)
$$;

-- ---------------------------------------------------------------------------
-- The knowledge domain
-- ---------------------------------------------------------------------------
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
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_piece IS 'The piece tree of an IU, produced by autocut and changed by structure operations.';
CREATE INDEX iu_piece_iu_idx ON iu_piece (iu_id);
CREATE INDEX iu_piece_parent_idx ON iu_piece (parent_piece_id, position);

CREATE TABLE iu_relation (
    relation_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    from_iu_id    uuid NOT NULL REFERENCES information_unit (iu_id),
    to_iu_id      uuid NOT NULL REFERENCES information_unit (iu_id),
    relation_type text NOT NULL CHECK (relation_type IN ('cites', 'amends', 'supersedes', 'related')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (from_iu_id, to_iu_id, relation_type),
    CHECK (from_iu_id <> to_iu_id)
);
COMMENT ON TABLE iu_relation IS 'Typed links between IUs.';

-- ---------------------------------------------------------------------------
-- The transactional outbox
-- ---------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------
-- Routes and the delivery guard
-- ---------------------------------------------------------------------------
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

-- The guard: a route may be live (dry_run = false) only while the gate is open
-- AND the route is on the allowlist. Checked on every insert and update, so a
-- live row can never be written in any other state.
CREATE FUNCTION fn_iu_outbound_route_delivery_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.dry_run IS DISTINCT FROM false THEN
        RETURN NEW;                      -- dry-run rows are always allowed
    END IF;
    IF NOT public.fn_iu_delivery_gate_open() THEN
        RAISE EXCEPTION 'route % cannot be live: the delivery gate is closed', NEW.route_code
            USING ERRCODE = 'IU001',
                  HINT = 'open the gate first (iu-core gate open)';
    END IF;
    IF NOT public.fn_iu_route_allowlisted(NEW.route_code) THEN
        RAISE EXCEPTION 'route % cannot be live: it is not on the live allowlist', NEW.route_code
            USING ERRCODE = 'IU002',
                  HINT = 'add it first (iu-core allowlist add ROUTE)';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER trg_iu_outbound_route_delivery_guard
    BEFORE INSERT OR UPDATE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_outbound_route_delivery_guard();

-- The starting state: one route per structure event type, both dry-run
-- to the workflow engine's no-op reference (the event stays in the outbox).
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run) VALUES
    ('structure_op_applied.workflow', 'structure_op_applied', 'workflow', 'event_outbox', true),
    ('structure_piece_deprecated.workflow', 'structure_piece_deprecated', 'workflow', 'event_outbox', true);

-- ---------------------------------------------------------------------------
-- The worker's audit path and the dead-letter queue
-- ---------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------
-- The internal projection
-- ---------------------------------------------------------------------------
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

CREATE FUNCTION fn_iu_refuse_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: UPDATE is refused', TG_TABLE_NAME
        USING ERRCODE = 'IU007';
END
$$;

CREATE TRIGGER trg_iu_tree_change_log_append_only
    BEFORE UPDATE ON iu_tree_change_log
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();
