-- 022 — citations stored as links between provisions.
--
-- iu_citation holds every reference iu_core.domain.citations finds in the
-- text of an active piece: the citing unit and piece, the span (character
-- offsets in the piece's text and the text matched), what the text names
-- (cited_eid: the eid as written, NULL = the whole unit) and what it resolves
-- to among the pieces IU Core holds (to_iu_id, to_piece_id, to_eid), or why
-- not (unresolved: 'no such provision' or 'no such unit', the detector's
-- words in unresolved_detail). The rows are rewritten in the transaction of
-- every ingest, re-ingest and structure operation (domain.citation_store):
-- the changed unit's pieces are detected again and the citations of other
-- units that point at it are resolved again, so the table always equals a
-- fresh detection over the current pieces.
--
-- iu_id and to_iu_id name units without a foreign key on purpose: a foreign
-- key would take a KEY SHARE lock on the unit's row, which an operation on
-- that unit holds FOR UPDATE while it waits for its turn to refresh the
-- citations (one refresh at a time, an advisory lock): two operations would
-- wait on each other. Units are never deleted, and the pieces (whose rows
-- are never locked FOR UPDATE) keep their foreign keys.

CREATE TABLE iu_citation (
    citation_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iu_id             uuid NOT NULL,                                       -- the citing unit
    piece_id          uuid NOT NULL REFERENCES iu_piece (piece_id),        -- the citing piece
    seq               integer NOT NULL CHECK (seq >= 0),  -- order of the citation in the piece
    span_start        integer NOT NULL CHECK (span_start >= 0),
    span_end          integer NOT NULL CHECK (span_end > span_start),
    matched_text      text NOT NULL CHECK (matched_text <> ''),
    cited_eid         text CHECK (cited_eid <> ''),       -- as the text names it; NULL = the whole unit
    to_iu_id          uuid,                                      -- NULL: no such unit
    to_piece_id       uuid REFERENCES iu_piece (piece_id),       -- NULL: unresolved, or the whole unit
    to_eid            text,                                      -- the stored eid of to_piece_id
    unresolved        text CHECK (unresolved IN ('no such provision', 'no such unit')),
    unresolved_detail text,
    UNIQUE (piece_id, seq),
    CHECK (unresolved IS NOT NULL OR to_iu_id IS NOT NULL),
    CHECK ((to_piece_id IS NULL) = (to_eid IS NULL))
);
COMMENT ON TABLE iu_citation IS
    'References between provisions found in the text of active pieces, resolved to the pieces IU Core holds.';
CREATE INDEX iu_citation_unit_idx ON iu_citation (iu_id, piece_id);
CREATE INDEX iu_citation_target_idx ON iu_citation (to_iu_id, to_piece_id);
