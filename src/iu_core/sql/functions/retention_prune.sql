-- One prune batch of one history table (iu_core.retention calls it in a loop,
-- one call = one short transaction): takes the next p_limit rows after key
-- p_after in key order, deletes those that are finished and older than
-- p_cutoff (with p_dry_run: only counts them), and says where it stopped.
--   affected  rows deleted (dry run: rows that would be)
--   scanned   rows looked at
--   last_key  the key to continue after
--   done      a whole batch was younger than the cutoff (the walk reached the
--             present), or the end of the table
-- Row locks are taken only on finished rows, which the worker never touches
-- again; no table lock. A batch that prunes events or deliveries first locks
-- and advances the retention horizon (see sql/schema/retention.sql), so a backfill
-- waits for the batch and then starts after what it removed.
CREATE OR REPLACE FUNCTION fn_iu_retention_prune(
    p_table text, p_cutoff timestamptz, p_after bigint, p_limit integer, p_dry_run boolean)
RETURNS TABLE (affected integer, scanned integer, last_key bigint, done boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys    bigint[];
    v_young   boolean;
    v_count   integer;
    v_max_seq bigint;
    v_routes  text[];
BEGIN
    IF p_cutoff IS NULL OR p_cutoff > now() THEN
        RAISE EXCEPTION 'retention cutoff must be in the past' USING ERRCODE = '22023';
    END IF;
    IF NOT p_dry_run AND p_table IN ('event_outbox', 'iu_delivery') THEN
        PERFORM 1 FROM public.iu_retention_horizon h WHERE h.singleton FOR UPDATE;
    END IF;

    IF p_table = 'event_outbox' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT o.event_seq AS k, o.occurred_at AS t FROM public.event_outbox o
                 WHERE o.event_seq > p_after ORDER BY o.event_seq LIMIT p_limit) w;
        v_routes := ARRAY(SELECT r.route_code FROM public.iu_outbound_route r);
        WITH gone AS (
            SELECT o.event_id, o.event_seq
              FROM public.event_outbox o
             WHERE o.event_seq = ANY (v_keys)
               AND o.occurred_at < p_cutoff
               AND NOT EXISTS (SELECT 1 FROM public.iu_delivery d
                                WHERE d.route_code = ANY (v_routes) AND d.event_id = o.event_id
                                  AND d.state IN ('pending', 'inflight', 'retrying', 'held', 'dead'))
               AND NOT EXISTS (SELECT 1 FROM public.iu_route_dead_letter l
                                WHERE l.event_ref = o.event_id AND l.status = 'open')
        ), del AS (
            DELETE FROM public.event_outbox o USING gone g
             WHERE o.event_id = g.event_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;  -- a pruned event cannot be backfilled: horizon_at only

    ELSIF p_table = 'iu_delivery' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT d.delivery_id AS k, d.created_at AS t FROM public.iu_delivery d
                 WHERE d.delivery_id > p_after ORDER BY d.delivery_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT d.delivery_id FROM public.iu_delivery d
             WHERE d.delivery_id = ANY (v_keys)
               AND d.state IN ('sent', 'skipped', 'decided', 'discarded')
               AND d.finished_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_delivery d USING gone g
             WHERE d.delivery_id = g.delivery_id AND NOT p_dry_run
               AND d.state IN ('sent', 'skipped', 'decided', 'discarded')
            RETURNING d.event_seq
        )
        SELECT (SELECT count(*) FROM gone), (SELECT max(del.event_seq) FROM del) INTO v_count, v_max_seq;

    ELSIF p_table = 'iu_route_attempt' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT a.attempt_id AS k, a.started_at AS t FROM public.iu_route_attempt a
                 WHERE a.attempt_id > p_after ORDER BY a.attempt_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT a.attempt_id FROM public.iu_route_attempt a
             WHERE a.attempt_id = ANY (v_keys)
               AND a.started_at < p_cutoff
               AND NOT EXISTS (SELECT 1 FROM public.iu_delivery d
                                WHERE d.route_code = a.route_code AND d.event_id = a.event_ref
                                  AND d.state IN ('pending', 'inflight', 'retrying', 'held', 'dead'))
        ), del AS (
            DELETE FROM public.iu_route_attempt a USING gone g
             WHERE a.attempt_id = g.attempt_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSIF p_table = 'iu_route_decision' THEN
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT x.decision_id AS k, x.decided_at AS t FROM public.iu_route_decision x
                 WHERE x.decision_id > p_after ORDER BY x.decision_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT x.decision_id FROM public.iu_route_decision x
             WHERE x.decision_id = ANY (v_keys) AND x.decided_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_route_decision x USING gone g
             WHERE x.decision_id = g.decision_id AND NOT p_dry_run
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSIF p_table = 'iu_route_dead_letter' THEN
        -- resolved_at >= created_at: the walk goes by created_at
        SELECT array_agg(w.k ORDER BY w.k), bool_and(w.t >= p_cutoff) INTO v_keys, v_young
          FROM (SELECT l.dead_letter_id AS k, l.created_at AS t FROM public.iu_route_dead_letter l
                 WHERE l.dead_letter_id > p_after ORDER BY l.dead_letter_id LIMIT p_limit) w;
        WITH gone AS (
            SELECT l.dead_letter_id FROM public.iu_route_dead_letter l
             WHERE l.dead_letter_id = ANY (v_keys)
               AND l.status IN ('replayed', 'discarded')
               AND l.resolved_at < p_cutoff
        ), del AS (
            DELETE FROM public.iu_route_dead_letter l USING gone g
             WHERE l.dead_letter_id = g.dead_letter_id AND NOT p_dry_run
               AND l.status IN ('replayed', 'discarded')
        )
        SELECT count(*) INTO v_count FROM gone;

    ELSE
        RAISE EXCEPTION 'not a history table: %', p_table USING ERRCODE = '22023';
    END IF;

    IF NOT p_dry_run AND p_table IN ('event_outbox', 'iu_delivery') THEN
        UPDATE public.iu_retention_horizon h
           SET horizon_at = greatest(h.horizon_at, p_cutoff),
               horizon_seq = greatest(h.horizon_seq, coalesce(v_max_seq, 0))
         WHERE h.singleton;
    END IF;

    RETURN QUERY SELECT coalesce(v_count, 0), coalesce(cardinality(v_keys), 0),
                        coalesce(v_keys[cardinality(v_keys)], p_after),
                        coalesce(cardinality(v_keys), 0) < p_limit OR coalesce(v_young, false);
END
$$;
