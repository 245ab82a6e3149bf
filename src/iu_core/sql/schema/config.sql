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
