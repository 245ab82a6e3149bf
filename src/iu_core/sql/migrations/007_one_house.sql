-- 007: functions now live in sql/functions/ (CREATE OR REPLACE, one file per
-- function or family); this delta drops the signatures that changed there,
-- and adds the worker and operator roles.

-- Replay and discard take a "failed since" bound now.
DROP FUNCTION IF EXISTS fn_iu_worker_replay(bigint[], text, boolean, text, text);
DROP FUNCTION IF EXISTS fn_iu_worker_discard(bigint[], text, boolean, text, text);
