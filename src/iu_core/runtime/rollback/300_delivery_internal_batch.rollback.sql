-- runtime/rollback/300 — undo runtime/300 (and runtime/220).
--
-- Removes exactly the projection rows the internal consumer wrote
-- (delivered_by = 'fn_iu_structure_consumer'); nothing else is touched.
-- iu_tree_change_log is an append-only, idempotent, truncatable projection:
-- it rebuilds deterministically by re-running runtime/220 then runtime/300
-- (iu-core projection rebuild).
--
--   psql -v ON_ERROR_STOP=1 -f 300_delivery_internal_batch.rollback.sql   (or: iu-core runtime rollback 300)
--
-- The last statement reports how many rows were removed and how many remain.

BEGIN;
SET LOCAL client_min_messages = warning;

-- Wait for a running 220/300 to finish (they hold this lock), then remove.
LOCK TABLE iu_tree_change_log IN SHARE ROW EXCLUSIVE MODE;

DROP TABLE IF EXISTS pg_temp.iu_runtime_rollback_report;
CREATE TEMP TABLE iu_runtime_rollback_report (
    projection_before bigint,   -- iu_tree_change_log rows before
    removed           bigint,   -- rows delivered by fn_iu_structure_consumer, removed
    projection_after  bigint    -- rows left (written by any other consumer)
);
INSERT INTO pg_temp.iu_runtime_rollback_report (projection_before)
SELECT count(*) FROM iu_tree_change_log;

WITH removed AS (
    DELETE FROM iu_tree_change_log
     WHERE delivered_by = 'fn_iu_structure_consumer'
    RETURNING 1
)
UPDATE pg_temp.iu_runtime_rollback_report
   SET removed = (SELECT count(*) FROM removed);

UPDATE pg_temp.iu_runtime_rollback_report
   SET projection_after = (SELECT count(*) FROM iu_tree_change_log);

COMMIT;

SELECT projection_before, removed, projection_after FROM pg_temp.iu_runtime_rollback_report;
