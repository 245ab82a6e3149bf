-- sandbox/150 — the fail-closed probe of the delivery seam (nine probes, one rolled-back transaction).
--
-- Nine probes S1–S9 against fn_iu_route_deliver and fn_iu_structure_consumer,
-- in ONE transaction that is always rolled back: the probe creates its own
-- information unit, events and routes, opens and closes the gate, edits the
-- allowlist, and leaves the database exactly as it found it (row for row;
-- only sequences advance, as sequences do). Runs on an empty or a full
-- database.
--
--   psql -v ON_ERROR_STOP=1 -f 150_delivery_fail_closed_probe.sql   (or: iu-core probe)
--
-- Prints the table  # | probe | result  and then, unless all nine PASS,
-- raises an error naming the failures (psql exits non-zero, the CLI too).

BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL iu_core.context = 'sandbox/150';

-- What each probe found: PASS or FAIL, and why.
CREATE TEMP TABLE iu_probe_result (
    n      text PRIMARY KEY,   -- S1 … S9
    probe  text NOT NULL,      -- what is claimed
    result text NOT NULL,      -- PASS / FAIL
    detail text NOT NULL       -- the evidence
);

-- The probe's own data: one information unit and eleven well-formed
-- structure_op_applied events (1 for S4/S5, 10 for the batch of S6/S7).
CREATE TEMP TABLE iu_probe_event (
    n        integer PRIMARY KEY,
    event_id uuid NOT NULL,
    payload  jsonb NOT NULL
);

WITH unit AS (
    INSERT INTO information_unit (code, title)
    VALUES ('iu-probe-150-' || gen_random_uuid(), 'sandbox/150 probe unit (rolled back)')
    RETURNING iu_id
), events AS (
    INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
    SELECT 'structure_op_applied', 'information_unit', unit.iu_id,
           jsonb_build_object('schema_version', '1.0',
                              'iu_id', unit.iu_id::text,
                              'operation_id', gen_random_uuid()::text,
                              'operation_type', 'probe_' || g,
                              'event_type', 'structure_op_applied',
                              'pieces', '[]'::jsonb,
                              'eids', '[]'::jsonb,
                              'previous_eids', '{}'::jsonb,
                              'probe_n', g)
      FROM unit, generate_series(1, 11) AS g
    RETURNING event_id, payload
)
INSERT INTO pg_temp.iu_probe_event (n, event_id, payload)
SELECT (payload ->> 'probe_n')::integer, event_id, payload FROM events;

-- The probe's routes: one internal (sql_function -> the registered consumer),
-- one non-internal (external_endpoint; never reached: the seam refuses it).
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run)
VALUES ('iu_probe_150.internal', 'structure_op_applied', 'sql_function', 'fn_iu_structure_consumer', true),
       ('iu_probe_150.external', 'structure_op_applied', 'external_endpoint',
        'https://probe.invalid/never-called', true)
ON CONFLICT (route_code) DO UPDATE
   SET event_type = EXCLUDED.event_type, target_kind = EXCLUDED.target_kind,
       target_ref = EXCLUDED.target_ref, dry_run = true, enabled = true;

-- Arm (inside this transaction only): gate open, both probe routes allowlisted,
-- both flipped live — the guard trigger permits it only in this state.
INSERT INTO dot_config (key, value) VALUES ('iu_core.delivery_enabled', 'true'::jsonb)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO dot_config (key, value)
VALUES ('iu_core.delivery_live_routes', '["iu_probe_150.internal", "iu_probe_150.external"]'::jsonb)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
UPDATE iu_outbound_route SET dry_run = false WHERE route_code LIKE 'iu\_probe\_150.%';

-- Open dead letters before the probe (S9 proves the seam added none).
CREATE TEMP TABLE iu_probe_baseline AS
SELECT count(*) AS dead_letter_open FROM iu_route_dead_letter WHERE status = 'open';

-- Deliver probe events p_from..p_to through p_route. Returns what happened:
-- {"sqlstate": null or the refusal's SQLSTATE, "message", "rows_added",
--  "delta": change of the projection's row count}. A refusal rolls back the
-- attempt (the EXCEPTION block), so its delta shows whether anything leaked.
CREATE FUNCTION pg_temp.iu_probe_deliver(p_route text, p_from integer, p_to integer) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_before bigint := (SELECT count(*) FROM public.iu_tree_change_log);
    v_added  integer := 0;
    v_out    jsonb;
    e        record;
BEGIN
    BEGIN
        FOR e IN SELECT * FROM pg_temp.iu_probe_event WHERE n BETWEEN p_from AND p_to ORDER BY n LOOP
            v_out := public.fn_iu_route_deliver(p_route, e.event_id, e.payload);
            v_added := v_added + coalesce((v_out -> 'detail' ->> 'rows_added')::integer, 0);
        END LOOP;
        v_out := jsonb_build_object('sqlstate', null, 'message', 'delivered', 'rows_added', v_added);
    EXCEPTION WHEN OTHERS THEN
        v_out := jsonb_build_object('sqlstate', SQLSTATE, 'message', SQLERRM, 'rows_added', 0);
    END;
    RETURN v_out || jsonb_build_object(
        'delta', (SELECT count(*) FROM public.iu_tree_change_log) - v_before);
END
$$;

-- S1: gate closed -> IU001, nothing written.
UPDATE dot_config SET value = 'false'::jsonb WHERE key = 'iu_core.delivery_enabled';
INSERT INTO pg_temp.iu_probe_result
SELECT 'S1', 'delivery gate CLOSED → refuse',
       CASE WHEN r ->> 'sqlstate' = 'IU001' AND (r ->> 'delta')::integer = 0 THEN 'PASS' ELSE 'FAIL' END,
       format('%s %s; projection %s', r ->> 'sqlstate', r ->> 'message', r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 1, 1) AS r) s;
UPDATE dot_config SET value = 'true'::jsonb WHERE key = 'iu_core.delivery_enabled';

-- S2: gate open, route not allowlisted -> IU002, nothing written.
UPDATE dot_config SET value = '["iu_probe_150.external"]'::jsonb WHERE key = 'iu_core.delivery_live_routes';
INSERT INTO pg_temp.iu_probe_result
SELECT 'S2', 'gate open, route not allowlisted → refuse',
       CASE WHEN r ->> 'sqlstate' = 'IU002' AND (r ->> 'delta')::integer = 0 THEN 'PASS' ELSE 'FAIL' END,
       format('%s %s; projection %s', r ->> 'sqlstate', r ->> 'message', r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 1, 1) AS r) s;
UPDATE dot_config SET value = '["iu_probe_150.internal", "iu_probe_150.external"]'::jsonb
 WHERE key = 'iu_core.delivery_live_routes';

-- S3: gate open, allowlisted, live, but a non-internal kind -> 0A000.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S3', 'gate open, allowlisted, non-internal target → refuse (feature_not_supported)',
       CASE WHEN r ->> 'sqlstate' = '0A000' AND (r ->> 'delta')::integer = 0 THEN 'PASS' ELSE 'FAIL' END,
       format('%s %s; projection %s', r ->> 'sqlstate', r ->> 'message', r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.external', 1, 1) AS r) s;

-- S4: everything open, internal target -> exactly one projection row.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S4', 'gate open + allowlisted + internal target → +1 projection row',
       CASE WHEN r ->> 'sqlstate' IS NULL AND (r ->> 'delta')::integer = 1
                 AND (r ->> 'rows_added')::integer = 1 THEN 'PASS' ELSE 'FAIL' END,
       format('%s; projection %s, consumer reported %s', coalesce(r ->> 'sqlstate', 'sent'),
              r ->> 'delta', r ->> 'rows_added')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 1, 1) AS r) s;

-- S5: the same event again -> +0 (ON CONFLICT (event_ref) DO NOTHING).
INSERT INTO pg_temp.iu_probe_result
SELECT 'S5', 're-delivery of the same event → +0 rows (idempotent)',
       CASE WHEN r ->> 'sqlstate' IS NULL AND (r ->> 'delta')::integer = 0
                 AND (r ->> 'rows_added')::integer = 0
                 AND EXISTS (SELECT 1 FROM iu_tree_change_log c JOIN pg_temp.iu_probe_event e
                               ON e.event_id = c.event_ref WHERE e.n = 1)
            THEN 'PASS' ELSE 'FAIL' END,
       format('%s; projection %s', coalesce(r ->> 'sqlstate', 'sent'), r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 1, 1) AS r) s;

-- S6: a bounded batch of ten events -> +10.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S6', 'a bounded batch of 10 events → +10 rows',
       CASE WHEN r ->> 'sqlstate' IS NULL AND (r ->> 'delta')::integer = 10
                 AND (r ->> 'rows_added')::integer = 10 THEN 'PASS' ELSE 'FAIL' END,
       format('%s; projection %s', coalesce(r ->> 'sqlstate', 'sent'), r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 2, 11) AS r) s;

-- S7: the whole batch again -> +0.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S7', 're-delivery of the whole batch → +0 rows',
       CASE WHEN r ->> 'sqlstate' IS NULL AND (r ->> 'delta')::integer = 0
                 AND (r ->> 'rows_added')::integer = 0 THEN 'PASS' ELSE 'FAIL' END,
       format('%s; projection %s', coalesce(r ->> 'sqlstate', 'sent'), r ->> 'delta')
  FROM (SELECT pg_temp.iu_probe_deliver('iu_probe_150.internal', 2, 11) AS r) s;

-- S8: each projected row carries its event's operation_id and operation_type.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S8', 'projection carries operation_id / operation_type',
       CASE WHEN matching = 11 THEN 'PASS' ELSE 'FAIL' END,
       format('%s of 11 probe events projected with their operation_id, operation_type, iu_id', matching)
  FROM (SELECT count(*) AS matching
          FROM pg_temp.iu_probe_event e
          JOIN iu_tree_change_log c ON c.event_ref = e.event_id
         WHERE c.operation_id::text = e.payload ->> 'operation_id'
           AND c.operation_type = e.payload ->> 'operation_type'
           AND c.iu_id::text = e.payload ->> 'iu_id'
           AND c.event_type = 'structure_op_applied'
           AND c.delivered_by = 'fn_iu_structure_consumer') s;

-- S9: the seam dead-letters nothing: no open dead letter for the probe's routes
-- and events, and the number of open dead letters did not change.
INSERT INTO pg_temp.iu_probe_result
SELECT 'S9', 'iu_route_dead_letter open = 0',
       CASE WHEN probe_open = 0 AND now_open = b.dead_letter_open THEN 'PASS' ELSE 'FAIL' END,
       format('%s open for the probe, %s open in all (before: %s)', probe_open, now_open, b.dead_letter_open)
  FROM pg_temp.iu_probe_baseline b,
       LATERAL (SELECT count(*) FILTER (WHERE d.route_code LIKE 'iu\_probe\_150.%'
                                         OR d.event_ref IN (SELECT event_id FROM pg_temp.iu_probe_event))
                       AS probe_open,
                       count(*) AS now_open
                  FROM iu_route_dead_letter d WHERE d.status = 'open') s;

-- The report: one row per probe.
SELECT n AS "#", probe, result FROM pg_temp.iu_probe_result ORDER BY n;

-- The verdict: anything but 9/9 PASS is an error (psql exits non-zero).
DO $$
DECLARE
    v_passed integer;
    v_failed text;
BEGIN
    SELECT count(*) FILTER (WHERE result = 'PASS'),
           string_agg(format('%s FAIL: %s', n, detail), '; ' ORDER BY n) FILTER (WHERE result <> 'PASS')
      INTO v_passed, v_failed
      FROM pg_temp.iu_probe_result;
    IF v_passed IS DISTINCT FROM 9 THEN
        RAISE EXCEPTION 'fail-closed probe: %/9 PASS — %', coalesce(v_passed, 0), coalesce(v_failed, 'probes missing');
    END IF;
END
$$;

ROLLBACK;
