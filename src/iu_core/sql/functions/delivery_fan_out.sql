-- Why a trigger, and not a reader that follows event_seq: event_seq is taken
-- when a row is inserted, not when its transaction commits. A reader that
-- remembers "delivered up to seq 11" can pass over seq 10 whose transaction is
-- still open and commits a moment later: that event would be lost (the
-- sequence-gap problem). Here the delivery rows are inserted by the event's
-- own transaction, in the same statement's trigger: they become visible
-- exactly when the event commits, and vanish with it on rollback. There is no
-- position to remember, so there is no gap to fall into.
--
-- Statement-level with a transition table: one INSERT ... SELECT per
-- statement, however many events it inserted. Routes are those visible to the
-- inserting transaction: a route created later receives only later events
-- (iu-core route backfill for the older ones).
--
-- Route filters (route_filter.sql): an event its route's filter refuses gets
-- no delivery at all; a dry-run route records the refusal in its decision log
-- instead, naming the filter. While no route of the statement's event types
-- has a filter (one probe of a partial index), the statement is the plain
-- join: unfiltered routes pay nothing for filters.
CREATE OR REPLACE FUNCTION fn_iu_delivery_fan_out() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.iu_outbound_route r
                    WHERE r.filter_tree IS NOT NULL
                      AND r.event_type IN (SELECT e.event_type FROM new_events e)) THEN
        INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
        SELECT r.route_code, e.event_id, e.event_seq, e.aggregate_id
          FROM new_events e
          JOIN public.iu_outbound_route r ON r.event_type = e.event_type
        ON CONFLICT (route_code, event_id) DO NOTHING;
    ELSE
        WITH facts AS MATERIALIZED (  -- each event's unit, read once for all its routes
            SELECT e.event_id, e.event_seq, e.event_type, e.aggregate_id, e.payload,
                   coalesce(e.payload ->> 'code', u.code) AS code,
                   coalesce(e.payload ->> 'language', u.language) AS language,
                   ARRAY(SELECT t.tag FROM public.iu_unit_tag t WHERE t.iu_id = e.aggregate_id) AS tags
              FROM new_events e
              LEFT JOIN public.information_unit u ON u.iu_id = e.aggregate_id
        ), judged AS MATERIALIZED (
            SELECT r.route_code, r.dry_run, r.filter_source, r.target_kind, r.target_ref,
                   f.event_id, f.event_seq, f.event_type, f.aggregate_id,
                   r.filter_tree IS NULL
                   OR public.fn_iu_route_filter_match(r.filter_tree, f.aggregate_id, f.payload,
                                                      f.code, f.language, f.tags) AS passes
              FROM facts f
              JOIN public.iu_outbound_route r ON r.event_type = f.event_type
        ), refused AS (
            INSERT INTO public.iu_route_decision
                   (route_code, event_ref, event_type, target_kind, target_ref, decision, filter_source)
            SELECT j.route_code, j.event_id, j.event_type, j.target_kind, j.target_ref,
                   'filtered_out', j.filter_source
              FROM judged j
             WHERE NOT j.passes AND j.dry_run
        )
        INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
        SELECT j.route_code, j.event_id, j.event_seq, j.aggregate_id
          FROM judged j
         WHERE j.passes
        ON CONFLICT (route_code, event_id) DO NOTHING;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('iu_core_delivery', '');  -- one per transaction (notifications merge)
    END IF;
    RETURN NULL;
END
$$;

-- A change of the gate, the allowlist or a route may make waiting work due.
CREATE OR REPLACE FUNCTION fn_iu_delivery_wake() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('iu_core_delivery', 'config');  -- 'config': workers reload routes
    RETURN NULL;
END
$$;

-- A removed route takes its deliveries and circuit with it.
CREATE OR REPLACE FUNCTION fn_iu_delivery_route_removed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.iu_delivery WHERE route_code = OLD.route_code;
    DELETE FROM public.iu_route_circuit WHERE route_code = OLD.route_code;
    RETURN NULL;
END
$$;
