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
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Limits of HTTP delivery (last, where a table upgraded from the first
    -- release has them).
    max_payload_bytes integer NOT NULL DEFAULT 1048576
                    CHECK (max_payload_bytes BETWEEN 1 AND 67108864),
    disable_after_failing_hours numeric NOT NULL DEFAULT 72
                    CHECK (disable_after_failing_hours > 0)
);
COMMENT ON TABLE iu_outbound_route IS 'Where events of one type go. dry_run=false is possible only through the guard trigger.';
COMMENT ON COLUMN iu_outbound_route.max_payload_bytes IS
    'Largest request body this route sends; an event over it becomes a dead letter.';
COMMENT ON COLUMN iu_outbound_route.disable_after_failing_hours IS
    'A route failing every attempt for this many hours (no success between) is disabled automatically.';
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
