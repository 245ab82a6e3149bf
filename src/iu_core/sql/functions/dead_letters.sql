-- The open dead letters an operator's selection names: by ids, by route, all
-- (p_all), each optionally narrowed to those created since p_since. Replay
-- and discard both take their rows from here.
CREATE OR REPLACE FUNCTION fn_iu_dead_letter_selection(p_ids bigint[], p_route_code text, p_all boolean,
                                                       p_since timestamptz)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.dead_letter_id
      FROM public.iu_route_dead_letter l
     WHERE l.status = 'open'
       AND (p_all OR l.dead_letter_id = ANY (p_ids) OR l.route_code = p_route_code)
       AND (p_since IS NULL OR l.created_at >= p_since)
$$;

-- Replay the selected open dead letters of routes that still exist (those of
-- a removed route stay open: there is nowhere to deliver them): each delivery goes back to pending with a fresh attempt budget, in
-- its place in its IU's order (held events behind it stay held until it is
-- sent). Returns the dead letters replayed.
CREATE OR REPLACE FUNCTION fn_iu_worker_replay(p_ids bigint[], p_route_code text, p_all boolean, p_since timestamptz,
                                               p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    WITH dl AS (
        UPDATE public.iu_route_dead_letter l
           SET status = 'replayed', resolved_at = now(), resolved_by = p_by, resolution_note = p_note
         WHERE l.dead_letter_id IN (SELECT public.fn_iu_dead_letter_selection(p_ids, p_route_code, p_all, p_since))
           AND EXISTS (SELECT 1 FROM public.iu_outbound_route r WHERE r.route_code = l.route_code)
        RETURNING l.route_code, l.event_ref
    ), requeue AS (
        INSERT INTO public.iu_delivery AS d (route_code, event_id, event_seq, aggregate_id)
        SELECT DISTINCT dl.route_code, o.event_id, o.event_seq, o.aggregate_id
          FROM dl JOIN public.event_outbox o ON o.event_id = dl.event_ref
        ON CONFLICT (route_code, event_id) DO UPDATE
           SET state = 'pending', budget_from = d.attempts, available_at = now(),
               last_error = NULL, finished_at = NULL, lease_owner = NULL, lease_token = NULL
         WHERE d.state IN ('dead', 'discarded')
    )
    SELECT count(*) INTO v_count FROM dl;
    IF v_count > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_count;
END
$$;

-- Discard the selected open dead letters: the delivery is given
-- up on, and under a strict policy its IU's next held event may go.
CREATE OR REPLACE FUNCTION fn_iu_worker_discard(p_ids bigint[], p_route_code text, p_all boolean, p_since timestamptz,
                                                p_by text, p_note text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count  integer;
    v_routes text[];
    v_aggs   uuid[];
    v_route  text;
BEGIN
    WITH dl AS (
        UPDATE public.iu_route_dead_letter l
           SET status = 'discarded', resolved_at = now(), resolved_by = p_by, resolution_note = p_note
         WHERE l.dead_letter_id IN (SELECT public.fn_iu_dead_letter_selection(p_ids, p_route_code, p_all, p_since))
        RETURNING l.route_code, l.event_ref
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state = 'discarded', finished_at = now()
          FROM dl
         WHERE d.route_code = dl.route_code AND d.event_id = dl.event_ref AND d.state = 'dead'
        RETURNING d.route_code, d.aggregate_id
    )
    SELECT (SELECT count(*) FROM dl),
           (SELECT array_agg(u.route_code) FROM upd u),
           (SELECT array_agg(u.aggregate_id) FROM upd u)
      INTO v_count, v_routes, v_aggs;
    FOR v_route IN SELECT DISTINCT r FROM unnest(v_routes) AS r LOOP
        PERFORM public.fn_iu_worker_release_held(
            v_route,
            ARRAY(SELECT a FROM unnest(v_routes, v_aggs) AS x(r, a) WHERE x.r = v_route));
    END LOOP;
    RETURN v_count;
END
$$;
