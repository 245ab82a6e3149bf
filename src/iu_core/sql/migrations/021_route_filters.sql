-- 021 — route filters, unit tags and a unit's language.
--
-- A route may carry a filter over its events (`iu-core route set R --filter
-- EXPR`): its source text as the operator wrote it, and the tree the CLI
-- compiled it to (iu_core.ops.filters), which fn_iu_route_filter_match
-- (functions/route_filter.sql) evaluates in the fan-out trigger. The tree is
-- data: no SQL is ever built from it. Both are NULL on a route without a filter.
ALTER TABLE iu_outbound_route
    ADD COLUMN filter_source text CHECK (filter_source <> ''),
    ADD COLUMN filter_tree   jsonb CHECK (filter_tree IS NULL OR jsonb_typeof(filter_tree) = 'object'),
    ADD CONSTRAINT iu_outbound_route_filter_whole
        CHECK ((filter_source IS NULL) = (filter_tree IS NULL));
COMMENT ON COLUMN iu_outbound_route.filter_source IS
    'The route''s filter as written (iu-core route set --filter); NULL: every event of the type.';
COMMENT ON COLUMN iu_outbound_route.filter_tree IS
    'The filter compiled to a JSON tree, evaluated by fn_iu_route_filter_match at fan-out.';
-- Routes with a filter, found in one probe by the fan-out trigger.
CREATE INDEX iu_outbound_route_filtered_idx ON iu_outbound_route (event_type) WHERE filter_tree IS NOT NULL;

-- A dry-run route's decision log also records the events its filter refused.
ALTER TABLE iu_route_decision ADD COLUMN filter_source text;
COMMENT ON COLUMN iu_route_decision.filter_source IS
    'decision = ''filtered_out'': the filter that refused the event (its text at the time).';

-- Tags of information units (iu-core units tag CODE TAG...), matched by tag:NAME.
CREATE TABLE iu_unit_tag (
    iu_id      uuid NOT NULL REFERENCES information_unit (iu_id) ON DELETE CASCADE,
    tag        text NOT NULL CHECK (tag ~ '^[A-Za-z0-9._:-]{1,64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (iu_id, tag)
);
COMMENT ON TABLE iu_unit_tag IS 'Tags of information units, which route filters match (tag:NAME).';

-- A unit's language, from its text: Vietnamese when more than one character
-- in 200 is a letter only Vietnamese writes (the rule of the Akoma Ntoso
-- export), else English. Matched by lang:vi / lang:en.
ALTER TABLE information_unit ADD COLUMN language text NOT NULL GENERATED ALWAYS AS (
    CASE WHEN length(regexp_replace(lower(body), '[^ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]', '', 'g')) * 200
              > length(body)
         THEN 'vi' ELSE 'en' END) STORED;

-- The operator audit names units too (their tags).
ALTER TABLE iu_operator_audit DROP CONSTRAINT iu_operator_audit_object_type_check;
ALTER TABLE iu_operator_audit ADD CONSTRAINT iu_operator_audit_object_type_check
    CHECK (object_type IN ('route', 'config', 'consumer', 'credential', 'dead_letter', 'retention',
                           'console_user', 'unit'));
