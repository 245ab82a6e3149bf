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
