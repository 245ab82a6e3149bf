-- The structure report: one row per information unit, kept current by the
-- `report` target kind and `iu-core report build`.
--
-- A row is rewritten only by a generation that reflects the same or a later
-- event of its IU (event_seq), and at the same event only when the content
-- differs (digest): re-delivering an older event, or the same one again,
-- changes nothing. `generation` counts the rewrites.

CREATE TABLE iu_structure_report (
    iu_id        uuid PRIMARY KEY REFERENCES information_unit (iu_id),
    code         text NOT NULL,
    event_seq    bigint NOT NULL CHECK (event_seq >= 0),  -- the IU's newest event the report reflects (0: none)
    event_id     uuid,                                    -- that event (NULL when the IU has no event)
    digest       text NOT NULL,                           -- SHA-256 of the content without its generation time
    markdown     text NOT NULL,
    html         text NOT NULL,                           -- one self-contained page: inline CSS, no script
    json         jsonb NOT NULL,
    generation   bigint NOT NULL DEFAULT 1 CHECK (generation >= 1),
    generated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_structure_report IS 'Per-IU structure report (tree, change history, relations) as Markdown, HTML and JSON; monotonic in event_seq.';
CREATE INDEX iu_structure_report_code_idx ON iu_structure_report (code);
