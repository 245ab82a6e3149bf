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
-- Open dead letters by event: the event pruner keeps every event named here.
CREATE INDEX iu_route_dead_letter_open_event_idx ON iu_route_dead_letter (event_ref) WHERE status = 'open';

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
