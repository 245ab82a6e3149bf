-- 016 — where each piece came from in the file it was ingested from, so an
-- editor can open the source at the provision. Written by autocut and
-- reingest (NULL for pieces from before, and for pieces a split creates):
--   {"format": "pdf",  "start": {"page": 3, "line": 7}, "end": {"page": 4, "line": 2}}
--   {"format": "docx", "start": {"paragraph": 12},      "end": {"paragraph": 15}}
--   {"format": "html", "start": {"path": "/html[1]/body[1]/div[2]/p[5]"}, "end": {...}}
--   {"format": "text", "start": {"line": 40},           "end": {"line": 52}}
-- Numbers are 1-based; a PDF line counts the page's lines as extracted,
-- running headers included.

ALTER TABLE iu_piece
    ADD COLUMN source jsonb
        CONSTRAINT iu_piece_source_is_object CHECK (source IS NULL OR jsonb_typeof(source) = 'object');
COMMENT ON COLUMN iu_piece.source IS
    'Where the piece came from in its source file: format, start and end locators (page/line, paragraph, element path, line).';

-- The structure history keeps each piece's source as well, so the tree as it
-- stood at an instant says where each piece then came from.
ALTER TABLE iu_piece_history
    ADD COLUMN source jsonb;
