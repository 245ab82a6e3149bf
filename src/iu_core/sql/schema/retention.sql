-- Retention of delivery history:
--   iu_retention_setting   how long each history table keeps finished rows
--   iu_retention_horizon   the oldest point backfill may still reach
--
-- What is pruned, and when a row is finished (iu_core.retention; the batch
-- functions are in sql/functions/retention_prune.sql):
--   event_outbox          occurred_at older than keep_for, and no delivery of it on any
--                         route is pending, inflight, retrying, held or dead, and no open
--                         dead letter names it
--   iu_delivery           sent / skipped / decided / discarded, finished_at older than keep_for
--   iu_route_attempt      started_at older than keep_for, and its delivery is not unfinished
--   iu_route_decision     decided_at older than keep_for
--   iu_route_dead_letter  replayed or discarded, resolved_at older than keep_for (open: never)
-- Never pruned: iu_tree_change_log (the projection) and iu_structure_operation
-- (the structure journal).
--
-- Finding old rows: every history table has an identity key (event_outbox: the
-- unique event_seq) that grows with its time column, so a prune batch walks the
-- key from where the previous batch stopped, in key order, and stops where the
-- rows become younger than the cutoff. No index is added on a time column: an
-- index on iu_delivery.finished_at or iu_route_attempt.started_at would cost
-- every delivery of the worker's hot path one more index write, to speed up
-- a job that runs every few minutes. The only new index is the one that
-- makes "is this event still unfinished anywhere" one probe per open dead
-- letter (in audit.sql).

CREATE TABLE iu_retention_setting (
    table_name  text PRIMARY KEY
                CHECK (table_name IN ('event_outbox', 'iu_delivery', 'iu_route_attempt',
                                      'iu_route_decision', 'iu_route_dead_letter')),
    keep_for    interval NOT NULL CHECK (keep_for >= interval '1 hour'),
    enabled     boolean NOT NULL DEFAULT true,     -- false: the worker's automatic pruning skips it
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_retention_setting IS
    'Retention per history table: finished rows older than keep_for are pruned (automatically by the worker when enabled).';

INSERT INTO iu_retention_setting (table_name, keep_for) VALUES
    ('event_outbox',         interval '30 days'),
    ('iu_delivery',          interval '30 days'),
    ('iu_route_attempt',     interval '30 days'),
    ('iu_route_decision',    interval '14 days'),
    ('iu_route_dead_letter', interval '90 days');

-- One row. horizon_at: the latest cutoff applied to events or deliveries;
-- horizon_seq: the highest event_seq whose delivery was pruned.
-- Backfill reaches only events at or after horizon_at and above horizon_seq,
-- so an event whose delivery was pruned is never delivered again.
-- Prune batches update this row before they delete (and backfill reads it
-- FOR SHARE), so the two never interleave.
CREATE TABLE iu_retention_horizon (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon_at  timestamptz,                      -- NULL: nothing pruned yet
    horizon_seq bigint NOT NULL DEFAULT 0,
    last_run_at timestamptz,                      -- the last complete pruning run
    last_report jsonb
);
COMMENT ON TABLE iu_retention_horizon IS
    'The retention horizon: backfill never reaches events before it; the last pruning run.';
INSERT INTO iu_retention_horizon (singleton) VALUES (true);
