-- 002 — the knowledge domain: structure operations and the piece tree's invariants.
--
-- Every change to a piece tree is one structure operation: one transaction that
-- locks the IU row (SELECT … FOR UPDATE on information_unit), writes one
-- iu_structure_operation row, the piece changes, and its events in event_outbox.
-- Locking the IU row serialises all operations on one IU; operations on
-- different IUs run in parallel.

-- ---------------------------------------------------------------------------
-- Structure operations: the journal of every tree change
-- ---------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------
-- The piece tree: provenance and invariants
-- ---------------------------------------------------------------------------
ALTER TABLE iu_piece
    ADD COLUMN created_by    uuid REFERENCES iu_structure_operation (operation_id),  -- the operation that created it
    ADD COLUMN deprecated_by uuid REFERENCES iu_structure_operation (operation_id),  -- set while deprecated
    ADD COLUMN deprecated_at timestamptz,
    -- deprecated_by is set exactly while the piece is deprecated
    ADD CONSTRAINT iu_piece_deprecation_consistent
        CHECK ((status = 'deprecated') = (deprecated_by IS NOT NULL)),
    ADD CONSTRAINT iu_piece_not_own_parent CHECK (parent_piece_id <> piece_id),
    ADD CONSTRAINT iu_piece_iu_piece_key UNIQUE (iu_id, piece_id);

-- A parent is always a piece of the same IU.
ALTER TABLE iu_piece
    ADD CONSTRAINT iu_piece_parent_same_iu
        FOREIGN KEY (iu_id, parent_piece_id) REFERENCES iu_piece (iu_id, piece_id);

-- One root per IU (the root is never deprecated, split away or moved).
CREATE UNIQUE INDEX iu_piece_one_root_idx ON iu_piece (iu_id) WHERE parent_piece_id IS NULL;

-- Active siblings never share a position. Deferred: an operation renumbers
-- siblings in any order and the check runs when it ends (operations set the
-- constraint IMMEDIATE before they return, so a violation surfaces there).
-- Deprecated pieces keep their last position and are out of the check.
ALTER TABLE iu_piece
    ADD CONSTRAINT iu_piece_active_sibling_position
        EXCLUDE USING btree (parent_piece_id WITH =, position WITH =)
        WHERE (status = 'active')
        DEFERRABLE INITIALLY DEFERRED;

-- ---------------------------------------------------------------------------
-- Relations: who wrote them
-- ---------------------------------------------------------------------------
ALTER TABLE iu_relation
    ADD COLUMN actor text NOT NULL DEFAULT current_user;
CREATE INDEX iu_relation_to_idx ON iu_relation (to_iu_id);
