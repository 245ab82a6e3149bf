-- Named queries of the stored citations (iu_core.domain.citation_store). Each
-- block: a "-- name --" line, then one statement with %(name)s parameters.

-- lock_citations --
-- One refresh of the stored citations at a time, until the transaction ends:
-- an operation on one unit resolves the citations of others against the
-- eids it sees, so a concurrent operation on a unit that cites it waits and
-- then reads the committed state. Taken last in every operation (after the
-- unit's row lock), so no two operations wait on each other in a cycle.
SELECT pg_advisory_xact_lock(hashtext('iu_core.citations'))

-- held_units --
-- Every unit IU Core holds: the titles a reference may name.
SELECT iu_id, code, title FROM information_unit ORDER BY code

-- active_pieces --
-- The active pieces of some units, with the text citations are found in.
SELECT piece_id, iu_id, eid, text
  FROM iu_piece
 WHERE iu_id = ANY(%(iu_ids)s::uuid[]) AND status = 'active'
 ORDER BY iu_id, piece_id

-- pieces_by_id --
SELECT piece_id, iu_id, eid, text
  FROM iu_piece
 WHERE piece_id = ANY(%(ids)s::uuid[]) AND status = 'active'

-- unit_bodies --
-- The start of each unit's document: its language is read from it.
SELECT iu_id, left(body, 4000) AS head FROM information_unit WHERE iu_id = ANY(%(iu_ids)s::uuid[])

-- active_eids --
SELECT piece_id, eid FROM iu_piece
 WHERE iu_id = %(iu_id)s AND status = 'active' AND eid IS NOT NULL

-- pieces_naming --
-- Active pieces of other units whose text names a title (a regular expression
-- built from the title's words, case ignored).
SELECT piece_id
  FROM iu_piece
 WHERE iu_id <> %(iu_id)s AND status = 'active' AND text ~* %(pattern)s

-- citations_touching --
-- The stored citations of a unit's pieces and those of other units that point
-- at it, as they were before an operation.
SELECT citation_id, iu_id, piece_id, seq, span_start, span_end, matched_text, cited_eid,
       to_iu_id, to_piece_id, to_eid, unresolved, unresolved_detail
  FROM iu_citation
 WHERE iu_id = %(iu_id)s OR to_iu_id = %(iu_id)s
 ORDER BY piece_id, seq

-- citations_of_pieces --
SELECT citation_id, iu_id, piece_id, seq, span_start, span_end, matched_text, cited_eid,
       to_iu_id, to_piece_id, to_eid, unresolved, unresolved_detail
  FROM iu_citation
 WHERE piece_id = ANY(%(ids)s::uuid[])
 ORDER BY piece_id, seq

-- delete_citations_of_unit --
DELETE FROM iu_citation WHERE iu_id = %(iu_id)s

-- delete_citations_of_pieces --
DELETE FROM iu_citation WHERE piece_id = ANY(%(ids)s::uuid[])

-- insert_citations --
-- One statement for a whole set of rows (arrays of equal length).
INSERT INTO iu_citation (iu_id, piece_id, seq, span_start, span_end, matched_text, cited_eid,
                         to_iu_id, to_piece_id, to_eid, unresolved, unresolved_detail)
SELECT * FROM unnest(%(iu_ids)s::uuid[], %(piece_ids)s::uuid[], %(seqs)s::int[], %(starts)s::int[],
                     %(ends)s::int[], %(texts)s::text[], %(cited_eids)s::text[], %(to_iu_ids)s::uuid[],
                     %(to_piece_ids)s::uuid[], %(to_eids)s::text[], %(unresolved)s::text[],
                     %(details)s::text[])

-- resolve_citations --
-- New targets for citations of other units that point at a changed unit.
UPDATE iu_citation c
   SET to_piece_id = u.to_piece_id, to_eid = u.to_eid, unresolved = u.unresolved,
       unresolved_detail = u.detail
  FROM unnest(%(ids)s::bigint[], %(to_piece_ids)s::uuid[], %(to_eids)s::text[], %(unresolved)s::text[],
              %(details)s::text[]) AS u(citation_id, to_piece_id, to_eid, unresolved, detail)
 WHERE c.citation_id = u.citation_id

-- list_citations --
-- A unit's outgoing citations (optionally of one citing eid, optionally only the
-- unresolved), in document order of the citing pieces.
SELECT p.eid AS eid, c.piece_id, c.span_start, c.span_end, c.matched_text, c.cited_eid,
       t.code AS to_code, c.to_piece_id, c.to_eid, c.unresolved, c.unresolved_detail
  FROM iu_citation c
  JOIN iu_piece p ON p.piece_id = c.piece_id
  LEFT JOIN information_unit t ON t.iu_id = c.to_iu_id
 WHERE c.iu_id = %(iu_id)s
   AND (%(eid)s::text IS NULL OR p.eid = %(eid)s)
   AND (NOT %(unresolved_only)s OR c.unresolved IS NOT NULL)
 ORDER BY p.eid COLLATE "C", c.seq

-- list_cited_by --
-- The citations that resolve to a provision (a piece of the unit) from any unit.
SELECT f.code AS from_code, p.eid AS from_eid, c.piece_id AS from_piece_id, c.span_start, c.span_end,
       c.matched_text, c.to_eid
  FROM iu_citation c
  JOIN iu_piece p ON p.piece_id = c.piece_id
  JOIN information_unit f ON f.iu_id = c.iu_id
 WHERE c.to_piece_id = %(piece_id)s
 ORDER BY f.code, p.eid COLLATE "C", c.seq

-- cited_by_unit --
-- Incoming citations of any piece of a unit, from other units and its own.
SELECT f.code AS from_code, p.eid AS from_eid, c.matched_text, c.to_eid
  FROM iu_citation c
  JOIN iu_piece p ON p.piece_id = c.piece_id
  JOIN information_unit f ON f.iu_id = c.iu_id
 WHERE c.to_iu_id = %(iu_id)s
 ORDER BY f.code, p.eid COLLATE "C", c.seq

-- cites_of_piece --
SELECT c.span_start, c.span_end, c.matched_text, c.cited_eid, t.code AS to_code, c.to_eid,
       c.unresolved
  FROM iu_citation c
  LEFT JOIN information_unit t ON t.iu_id = c.to_iu_id
 WHERE c.piece_id = %(piece_id)s
 ORDER BY c.seq

-- cites_of_pieces --
-- What each of some pieces cites (search results).
SELECT c.piece_id, c.matched_text, c.cited_eid, t.code AS to_code, c.to_eid, c.unresolved
  FROM iu_citation c
  LEFT JOIN information_unit t ON t.iu_id = c.to_iu_id
 WHERE c.piece_id = ANY(%(ids)s::uuid[])
 ORDER BY c.piece_id, c.seq

-- cited_by_pieces --
-- What cites each of some pieces (search results).
SELECT c.to_piece_id AS piece_id, f.code AS from_code, p.eid AS from_eid, c.matched_text
  FROM iu_citation c
  JOIN iu_piece p ON p.piece_id = c.piece_id
  JOIN information_unit f ON f.iu_id = c.iu_id
 WHERE c.to_piece_id = ANY(%(ids)s::uuid[])
 ORDER BY c.to_piece_id, f.code, p.eid COLLATE "C", c.seq
