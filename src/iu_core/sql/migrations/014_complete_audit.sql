-- 014 — one audit of every operator and worker change, and retention within range.
--
-- iu_operator_audit now also records (the triggers and functions are in
-- sql/functions/operator_audit_more.sql):
--   credential    a route's signing secret rotated or access token set: by
--                 fingerprint only, never the secret (action 'rotate' / 'set')
--   dead_letter   one row per replay or discard: how many, of which routes, the
--                 reason (action 'replay' / 'discard'); object_key is the route,
--                 or the routes joined by ', '
--   retention     a row of iu_retention_setting inserted, updated or deleted,
--                 from the CLI or from psql alike
--   route         also older events queued by `route backfill` (action 'backfill')
--   console_user  a user of the web console (never its password hash)
ALTER TABLE iu_operator_audit DROP CONSTRAINT iu_operator_audit_object_type_check;
ALTER TABLE iu_operator_audit ADD CONSTRAINT iu_operator_audit_object_type_check
    CHECK (object_type IN ('route', 'config', 'consumer', 'credential', 'dead_letter', 'retention',
                           'console_user'));
ALTER TABLE iu_operator_audit DROP CONSTRAINT iu_operator_audit_action_check;
ALTER TABLE iu_operator_audit ADD CONSTRAINT iu_operator_audit_action_check
    CHECK (action IN ('insert', 'update', 'delete', 'rotate', 'set', 'replay', 'discard', 'backfill'));
COMMENT ON TABLE iu_operator_audit IS
    'Append-only audit of every change to routes, the gate, the allowlist, the consumer registry, '
    'route credentials (by fingerprint), dead letters, retention settings and console users.';

-- Retention: a keep_for beyond 100 years cannot be subtracted from now() in
-- every client (Python's datetime stops at year 1) and means "forever" anyway:
-- turn the table's pruning off instead (enabled = false). Absurd values already
-- stored are brought down to the bound first.
UPDATE iu_retention_setting SET keep_for = interval '100 years' WHERE keep_for > interval '100 years';
ALTER TABLE iu_retention_setting
    DROP CONSTRAINT iu_retention_setting_keep_for_check,  -- its lower bound is in the one below
    ADD CONSTRAINT keep_for_must_be_between_1_hour_and_100_years
    CHECK (keep_for BETWEEN interval '1 hour' AND interval '100 years');
