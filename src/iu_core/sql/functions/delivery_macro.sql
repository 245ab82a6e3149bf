-- The steps of the delivery macros runtime/220 (the oldest undelivered
-- structure event) and runtime/300 (every undelivered one). Each macro is one
-- transaction that calls these in order:
--
--   fn_iu_macro_capture   P0: capture and lock routes, gate and allowlist
--   fn_iu_macro_discover  P1: the structure set, the backlog, the report
--   fn_iu_macro_arm       arm, then P2: flip the structure routes live
--   fn_iu_macro_deliver   P3, P4, P5: deliver, re-deliver, dead letters
--   fn_iu_macro_restore   restore, then the delivery success gate
--
-- They share their state through session-local temp tables: pg_temp.iu_rt_p0_route,
-- pg_temp.iu_rt_p0_config and pg_temp.iu_rt_p1_event (ON COMMIT DROP), and
-- pg_temp.iu_runtime_report (the figures; it outlives the COMMIT so that the
-- macro can report them). p_macro names the macro in every error; a failure
-- RAISEs, and the macro's whole transaction rolls back. Run with the caller's
-- privileges: they change the gate, the allowlist and routes, as an operator does.

-- P0 — the structure routes: for each structure event type one route,
-- preferring one already pointed at the internal consumer, then the seeded
-- '<event_type>.workflow', then the first by name; and the gate and the
-- allowlist (a key that is missing stays missing). Rows are locked so that no
-- operator change can slip in between capture and restore. Every structure
-- event type must have a route.
CREATE OR REPLACE FUNCTION fn_iu_macro_capture(p_macro text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text;
BEGIN
    CREATE TEMP TABLE pg_temp.iu_rt_p0_route ON COMMIT DROP AS
    SELECT r.*
      FROM public.iu_outbound_route r
     WHERE r.route_code IN (
            SELECT DISTINCT ON (x.event_type) x.route_code
              FROM public.iu_outbound_route x
             WHERE x.event_type IN ('structure_op_applied', 'structure_piece_deprecated')
             ORDER BY x.event_type,
                      (x.target_kind = 'sql_function' AND x.target_ref = 'fn_iu_structure_consumer') DESC,
                      (x.route_code = x.event_type || '.workflow') DESC,
                      x.route_code)
       FOR UPDATE OF r;

    CREATE TEMP TABLE pg_temp.iu_rt_p0_config ON COMMIT DROP AS
    SELECT c.*
      FROM public.dot_config c
     WHERE c.key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
       FOR UPDATE OF c;

    SELECT string_agg(t, ', ') INTO v_missing
      FROM unnest(ARRAY['structure_op_applied', 'structure_piece_deprecated']) AS t
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.iu_rt_p0_route r WHERE r.event_type = t);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION '%: no route for structure event type(s) %', p_macro, v_missing
            USING HINT = 'add one (iu-core route add ROUTE --event-type TYPE ...)';
    END IF;
END
$$;

-- P1 — the structure set, discovered live; "pending" marks the backlog: events
-- with no projection row yet; "selected" the events this run delivers, the
-- oldest p_limit pending by event_seq (p_limit NULL: every pending one).
-- Nothing is hardcoded: an event whose transaction commits after this point is
-- simply found by the next run. Then the report, with the figures known now.
CREATE OR REPLACE FUNCTION fn_iu_macro_discover(p_limit integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CREATE TEMP TABLE pg_temp.iu_rt_p1_event ON COMMIT DROP AS
    SELECT e.event_id, e.event_seq, e.event_type, e.payload,
           NOT EXISTS (SELECT 1 FROM public.iu_tree_change_log c WHERE c.event_ref = e.event_id) AS pending,
           false AS selected
      FROM public.event_outbox e
     WHERE e.event_type IN ('structure_op_applied', 'structure_piece_deprecated');
    UPDATE pg_temp.iu_rt_p1_event
       SET selected = true
     WHERE event_id IN (SELECT event_id FROM pg_temp.iu_rt_p1_event
                         WHERE pending ORDER BY event_seq LIMIT p_limit);

    -- The figures, filled step by step and reported by the macro at the end.
    DROP TABLE IF EXISTS pg_temp.iu_runtime_report;
    CREATE TEMP TABLE pg_temp.iu_runtime_report (
        undelivered_before integer,   -- P1: backlog size
        delivered          integer,   -- P3: rows the consumer added
        projection_before  bigint,    -- P1: iu_tree_change_log rows
        projection_after   bigint,    -- after P4
        redelivery_added   integer,   -- P4: rows added by re-delivering the projected set (must be 0)
        idempotent_ok      boolean,   -- redelivery_added = 0
        dead_letter_open   bigint,    -- P5: open dead letters on the structure routes
        via_consumer       bigint,    -- projection rows delivered by fn_iu_structure_consumer
        delivery_ok        boolean,   -- the success gate passed
        event_ref          uuid       -- the oldest event delivered (NULL on an empty backlog)
    );
    INSERT INTO pg_temp.iu_runtime_report (undelivered_before, projection_before, event_ref)
    SELECT (SELECT count(*) FROM pg_temp.iu_rt_p1_event WHERE pending),
           (SELECT count(*) FROM public.iu_tree_change_log),
           (SELECT event_id FROM pg_temp.iu_rt_p1_event WHERE selected ORDER BY event_seq LIMIT 1);
END
$$;

-- arm — gate open; the allowlist is exactly the structure routes. P2 — repoint
-- those routes to the internal consumer and flip them live: the guard trigger
-- permits dry_run = false only because of the arm step. The gate opened here
-- is restored before the macro's transaction commits: that transient change
-- writes no gate event (operational_events.sql).
CREATE OR REPLACE FUNCTION fn_iu_macro_arm() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('iu_core.gate_events', 'off', true);
    INSERT INTO public.dot_config (key, value) VALUES ('iu_core.delivery_enabled', 'true'::jsonb)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    INSERT INTO public.dot_config (key, value)
    SELECT 'iu_core.delivery_live_routes', jsonb_agg(route_code ORDER BY route_code) FROM pg_temp.iu_rt_p0_route
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

    UPDATE public.iu_outbound_route r
       SET target_kind = 'sql_function',
           target_ref = 'fn_iu_structure_consumer',
           dry_run = false,
           enabled = true,
           disabled_reason = NULL
      FROM pg_temp.iu_rt_p0_route p
     WHERE r.route_code = p.route_code;
END
$$;

-- P3, P4, P5 — deliver the selected events, prove re-delivery adds nothing,
-- count the open dead letters; the figures go into the report.
CREATE OR REPLACE FUNCTION fn_iu_macro_deliver(p_macro text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_event     record;
    v_outcome   jsonb;
    v_delivered integer := 0;
    v_again     integer := 0;
    v_failure   text;
BEGIN
    -- P3 — deliver the selected events, oldest first. A refusal or a malformed
    -- event stops the loop and fails the success gate at the end of this
    -- function: everything rolls back, and the error names the event and the reason.
    FOR v_event IN
        SELECT e.*, r.route_code
          FROM pg_temp.iu_rt_p1_event e
          JOIN pg_temp.iu_rt_p0_route r ON r.event_type = e.event_type
         WHERE e.selected
         ORDER BY e.event_seq
    LOOP
        BEGIN
            v_outcome := public.fn_iu_route_deliver(v_event.route_code, v_event.event_id, v_event.payload);
            v_delivered := v_delivered + (v_outcome -> 'detail' ->> 'rows_added')::integer;
        EXCEPTION WHEN OTHERS THEN
            v_failure := format('event %s (%s) not delivered: [%s] %s',
                                v_event.event_id, v_event.event_type, SQLSTATE, SQLERRM);
            EXIT;
        END;
    END LOOP;

    -- P4 — idempotency: re-deliver every projected event of the set (those
    -- projected before, and those just delivered: with every pending event
    -- selected, the whole set). Every consumer write is
    -- ON CONFLICT (event_ref) DO NOTHING, so this must add 0 rows.
    IF v_failure IS NULL THEN
        FOR v_event IN
            SELECT e.*, r.route_code
              FROM pg_temp.iu_rt_p1_event e
              JOIN pg_temp.iu_rt_p0_route r ON r.event_type = e.event_type
             WHERE NOT e.pending OR e.selected
             ORDER BY e.event_seq
        LOOP
            v_outcome := public.fn_iu_route_deliver(v_event.route_code, v_event.event_id, v_event.payload);
            v_again := v_again + (v_outcome -> 'detail' ->> 'rows_added')::integer;
        END LOOP;
    END IF;

    -- P5 — the figures; the dead letters of the routes just used.
    UPDATE pg_temp.iu_runtime_report
       SET delivered = v_delivered,
           projection_after = (SELECT count(*) FROM public.iu_tree_change_log),
           redelivery_added = CASE WHEN v_failure IS NULL THEN v_again END,
           idempotent_ok = (v_failure IS NULL AND v_again = 0),
           dead_letter_open = (SELECT count(*) FROM public.iu_route_dead_letter d
                                WHERE d.status = 'open'
                                  AND d.route_code IN (SELECT route_code FROM pg_temp.iu_rt_p0_route)),
           via_consumer = (SELECT count(*) FROM public.iu_tree_change_log
                            WHERE delivered_by = 'fn_iu_structure_consumer');
    IF v_failure IS NOT NULL THEN
        RAISE EXCEPTION '% rolled back: delivery success gate failed: %', p_macro, v_failure;
    END IF;
END
$$;

-- restore — routes first (the guard still sees the armed state, so a route
-- that was live in P0 may be live again), then the gate and the allowlist,
-- exactly as captured in P0. Then the delivery success gate: every condition,
-- or RAISE and roll back. projection_after must equal projection_before plus
-- the backlog, at most p_limit of it (p_limit NULL: all of it).
CREATE OR REPLACE FUNCTION fn_iu_macro_restore(p_macro text, p_limit integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f          record;
    v_restored boolean;
    v_reasons  text[];
BEGIN
    UPDATE public.iu_outbound_route r
       SET target_kind = p.target_kind,
           target_ref = p.target_ref,
           dry_run = p.dry_run,
           enabled = p.enabled,
           disabled_reason = p.disabled_reason,
           updated_at = p.updated_at
      FROM pg_temp.iu_rt_p0_route p
     WHERE r.route_code = p.route_code;
    UPDATE public.dot_config c
       SET value = p.value, updated_at = p.updated_at
      FROM pg_temp.iu_rt_p0_config p
     WHERE c.key = p.key;
    DELETE FROM public.dot_config c
     WHERE c.key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
       AND c.key NOT IN (SELECT key FROM pg_temp.iu_rt_p0_config);

    SELECT * INTO f FROM pg_temp.iu_runtime_report;
    -- Restore is exact: every captured row equals its live row, column for column.
    SELECT (SELECT count(*) FROM public.iu_outbound_route r JOIN pg_temp.iu_rt_p0_route p USING (route_code)
             WHERE to_jsonb(r) = to_jsonb(p)) = (SELECT count(*) FROM pg_temp.iu_rt_p0_route)
       AND (SELECT count(*) FROM public.dot_config c JOIN pg_temp.iu_rt_p0_config p USING (key)
             WHERE to_jsonb(c) = to_jsonb(p)) = (SELECT count(*) FROM pg_temp.iu_rt_p0_config)
       AND (SELECT count(*) FROM public.dot_config
             WHERE key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes'))
           = (SELECT count(*) FROM pg_temp.iu_rt_p0_config)
      INTO v_restored;

    -- Every failed condition is named, in one line.
    v_reasons := array_remove(ARRAY[
        CASE WHEN f.projection_after IS DISTINCT FROM f.projection_before + least(f.undelivered_before, p_limit)
             THEN format('projection_after %s <> projection_before + %s (%s + %s)',
                         f.projection_after,
                         CASE WHEN p_limit IS NULL THEN 'undelivered_before'
                              ELSE format('min(%s, undelivered_before)', p_limit) END,
                         f.projection_before, f.undelivered_before) END,
        CASE WHEN NOT f.idempotent_ok AND f.redelivery_added IS NOT NULL
             THEN format('re-delivery added %s row(s)', f.redelivery_added) END,
        CASE WHEN f.dead_letter_open <> 0
             THEN format('%s open dead letter(s) on the structure routes (replay or discard them first)',
                         f.dead_letter_open) END,
        CASE WHEN NOT v_restored
             THEN 'routes, gate or allowlist differ from P0 after restore' END
    ], NULL);
    IF cardinality(v_reasons) > 0 THEN
        RAISE EXCEPTION '% rolled back: delivery success gate failed: %',
                        p_macro, array_to_string(v_reasons, '; ');
    END IF;
    UPDATE pg_temp.iu_runtime_report SET delivery_ok = true;
END
$$;
