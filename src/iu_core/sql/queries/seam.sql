-- Named queries of the delivery seam (macros.py). See sqlfiles.queries().

-- lock_projection --
-- Projection rebuild: no writer (a worker, a macro) may slip in between
-- counting and truncating.
LOCK TABLE iu_tree_change_log IN ACCESS EXCLUSIVE MODE

-- count_projection --
SELECT count(*) FROM iu_tree_change_log

-- truncate_projection --
-- iu_tree_change_log is a truncatable projection: runtime 220 then 300
-- rebuild it from event_outbox.
TRUNCATE iu_tree_change_log
