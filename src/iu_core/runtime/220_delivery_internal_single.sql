-- runtime/220 — internal delivery seam, SINGLE event (the single-event macro).
--
-- Delivers exactly ONE structure event — the oldest undelivered one — through
-- fn_iu_route_deliver to the internal consumer fn_iu_structure_consumer,
-- proves that re-delivery is idempotent, and restores routes, gate and
-- allowlist — in ONE transaction, data-only (the steps keep their state in
-- session-local temp tables). Arms and restores exactly as runtime/300 does:
-- both call the fn_iu_macro_* functions (sql/functions/delivery_macro.sql).
--
--   psql -v ON_ERROR_STOP=1 -f 220_delivery_internal_single.sql   (or: iu-core runtime run 220)
--
--   P0  capture the structure routes, the gate and the allowlist
--   P1  discover the backlog: structure events with no projection row (live NOT EXISTS)
--   arm open the gate; allowlist exactly the structure routes
--   P2  repoint the structure routes to sql_function / fn_iu_structure_consumer, live
--   P3  deliver the OLDEST backlog event through fn_iu_route_deliver
--   P4  re-deliver every projected structure event (incl. that one): must add 0 rows
--   P5  open dead letters on the structure routes: must be 0
--   restore routes, gate and allowlist exactly as captured in P0
--   success gate: unless projection_after = projection_before + min(1, undelivered_before),
--       re-delivery added nothing, no dead letter is open and the restore is
--       exact, RAISE — and the whole transaction rolls back.
-- The last statement reports the figures (after COMMIT), and the event delivered.
--
-- Undo: runtime/rollback/300_delivery_internal_batch.rollback.sql (removes
-- every row the internal consumer projected, this one included).

BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL iu_core.context = 'runtime/220';    -- recorded in the operator audit

-- Serialise projection writers for the length of the macro, so the figures
-- below are exact: a concurrent writer waits, then finds its work done.
LOCK TABLE iu_tree_change_log IN SHARE ROW EXCLUSIVE MODE;

DO $$
BEGIN
    PERFORM fn_iu_macro_capture('runtime/220');           -- P0, and a route for each structure event type
    PERFORM fn_iu_macro_discover(1);                      -- P1: only the oldest pending event is selected
    PERFORM fn_iu_macro_arm();                            -- arm, P2
    PERFORM fn_iu_macro_deliver('runtime/220');           -- P3 (that event), P4 (the projected set), P5
    PERFORM fn_iu_macro_restore('runtime/220', 1);        -- restore; success gate: + min(1, undelivered_before)
END
$$;

COMMIT;

-- The figures of the committed run.
SELECT undelivered_before, delivered, projection_before, projection_after, redelivery_added,
       idempotent_ok, dead_letter_open, via_consumer, delivery_ok, event_ref
  FROM pg_temp.iu_runtime_report;
