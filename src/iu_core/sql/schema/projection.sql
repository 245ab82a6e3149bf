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
