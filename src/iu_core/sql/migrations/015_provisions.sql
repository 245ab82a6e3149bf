-- 015 — provisions as legal objects:
--   iu_piece.eid        the piece's legal identifier (Akoma Ntoso naming:
--                       chp_2__art_5__para_1), computed by iu_core.domain.eid
--                       from the numbering of the active tree and rewritten by
--                       every structure operation. NULL until the first
--                       operation on its IU after this migration (readers
--                       compute it from the tree meanwhile).
--   iu_piece_history    the state of every piece after every structure
--                       operation (place, names, text, status, eid), so the
--                       tree can be rebuilt as it stood at any instant
--                       (iu-core tree CODE --as-of T).
--
-- The journal (iu_structure_operation.parameters) records what each operation
-- was asked and which pieces it touched, but not the text, position and names
-- of every piece after it (a split's renumbered siblings, a reingest's new
-- headings): iu_piece_history records them from now on. An operation writes a
-- history row for each piece of its IU whose state differs from that piece's
-- newest history row; recorded_at is the operation's applied_at (the moment it
-- ran, after the IU's lock: increasing in the order operations were applied). Pieces that exist when this migration runs get one row
-- with their current state, recorded at their updated_at (their state since
-- then): an instant before that shows a tree without them.

ALTER TABLE iu_piece ADD COLUMN eid text CHECK (eid <> '');
COMMENT ON COLUMN iu_piece.eid IS
    'Legal identifier in the Akoma Ntoso naming convention (sec_4__subsec_2__para_a); unique among the active pieces of an IU.';
-- Unique among the active pieces of one IU. Deferred: an operation rewrites the
-- eids of a whole tree in one statement, in which two pieces may swap names.
ALTER TABLE iu_piece ADD CONSTRAINT iu_piece_active_eid_unique
    EXCLUDE USING btree (iu_id WITH =, eid WITH =)
    WHERE (status = 'active' AND eid IS NOT NULL)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE iu_piece_history (
    history_seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- order of recording
    operation_id    uuid REFERENCES iu_structure_operation (operation_id),  -- NULL: recorded by 015
    iu_id           uuid NOT NULL REFERENCES information_unit (iu_id),
    piece_id        uuid NOT NULL REFERENCES iu_piece (piece_id),
    parent_piece_id uuid,
    position        integer NOT NULL,
    kind            text NOT NULL,
    label           text NOT NULL,
    heading         text NOT NULL,
    text            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('active', 'deprecated')),
    eid             text,
    recorded_at     timestamptz NOT NULL DEFAULT now()  -- the operation's applied_at
);
COMMENT ON TABLE iu_piece_history IS
    'The state of each piece after each structure operation: the tree at any past instant.';
CREATE INDEX iu_piece_history_unit_idx ON iu_piece_history (iu_id, recorded_at, history_seq);
CREATE INDEX iu_piece_history_piece_idx ON iu_piece_history (piece_id, history_seq);

INSERT INTO iu_piece_history (iu_id, piece_id, parent_piece_id, position, kind, label, heading,
                              text, status, eid, recorded_at)
SELECT iu_id, piece_id, parent_piece_id, position, kind, label, heading, text, status, eid, updated_at
  FROM iu_piece
 ORDER BY iu_id, updated_at, piece_id;
