-- Releases the earliest held delivery of each given IU on the route (one per
-- stream: it becomes the stream's next head; the rest stay held behind it).
CREATE OR REPLACE FUNCTION fn_iu_worker_release_held(p_route_code text, p_aggregates uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_released integer;
    v_heads    bigint[];
BEGIN
    IF p_aggregates IS NULL OR cardinality(p_aggregates) = 0
       OR NOT EXISTS (SELECT 1 FROM public.iu_delivery h
                       WHERE h.route_code = p_route_code AND h.state = 'held') THEN
        RETURN 0;
    END IF;
    -- The next heads first, then an update by primary key: joined in one
    -- statement, the planner (expecting one held row) looped over every held
    -- row of the table and rescanned the heads for each (a second per record
    -- with a thousand held, as several workers hold).
    SELECT array_agg(x.delivery_id) INTO v_heads
      FROM (SELECT DISTINCT ON (e.aggregate_id) e.delivery_id
              FROM public.iu_delivery e
             WHERE e.route_code = p_route_code
               AND e.aggregate_id = ANY (p_aggregates)
               AND e.state = 'held'
             ORDER BY e.aggregate_id, e.event_seq) x;
    -- available_at keeps its original (earlier) value: the claim takes rows in
    -- (available_at, event_seq) order, and a released head must come before
    -- the still-pending later rows of its own and other streams. Stamped with
    -- now(), it would sort behind them, and a claim window filled with rows
    -- blocked behind pending heads would never reach the heads.
    UPDATE public.iu_delivery h
       SET state = 'pending', available_at = least(h.available_at, now())
     WHERE h.delivery_id = ANY (v_heads)
       AND h.state = 'held';
    GET DIAGNOSTICS v_released = ROW_COUNT;
    IF v_released > 0 THEN
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN v_released;
END
$$;

-- Puts claimed-but-blocked rows on hold. A row is held only behind an earlier
-- delivery of its stream in a lasting state (retrying, in flight, held, dead
-- under strict) that this transaction could lock FOR SHARE: whoever finishes
-- that blocker must update it, waits for this transaction, and then sees the
-- held rows it has to release. A blocker locked by someone else right now is
-- being finished: the blocked row simply stays pending for the next claim.
CREATE OR REPLACE FUNCTION fn_iu_worker_hold(p_route_code text, p_blocked bigint[], p_strict boolean) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_held integer;
BEGIN
    IF p_blocked IS NULL OR cardinality(p_blocked) = 0 THEN
        RETURN 0;
    END IF;
    WITH blocked AS (
        SELECT d.delivery_id, d.aggregate_id, d.event_seq
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (p_blocked)
    ), first_blocker AS (
        -- per blocked stream, its earliest lasting delivery that we can lock
        SELECT s.aggregate_id, k.event_seq
          FROM (SELECT b.aggregate_id, max(b.event_seq) AS upto FROM blocked b GROUP BY b.aggregate_id) s
          CROSS JOIN LATERAL (
                SELECT e.event_seq
                  FROM public.iu_delivery e
                 WHERE e.route_code = p_route_code
                   AND e.aggregate_id = s.aggregate_id
                   AND e.event_seq < s.upto
                   AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
                   AND e.state <> 'pending'
                   AND (e.state <> 'dead' OR p_strict)
                   AND e.delivery_id <> ALL (p_blocked)
                 ORDER BY e.event_seq
                 LIMIT 1
                   FOR SHARE OF e SKIP LOCKED) k
    )
    UPDATE public.iu_delivery d
       SET state = 'held'
      FROM blocked b
      JOIN first_blocker f ON f.aggregate_id = b.aggregate_id AND f.event_seq < b.event_seq
     WHERE d.delivery_id = b.delivery_id
       AND d.state IN ('pending', 'retrying');
    GET DIAGNOSTICS v_held = ROW_COUNT;
    RETURN v_held;
END
$$;

-- Claims up to p_limit due deliveries of one route (FOR UPDATE SKIP LOCKED on
-- the claim index, so concurrent workers take disjoint rows) and splits them:
--   ready   no earlier unfinished delivery of the same IU on this route outside
--           the claimed set (p_heads_only: none at all, i.e. the stream's head)
--   blocked the rest: put on hold when their blocker lasts (fn_iu_worker_hold),
--           else left pending; their row locks end with this transaction.
-- The claimed rows stay locked by the calling transaction.
CREATE OR REPLACE FUNCTION fn_iu_worker_claim_rows(
    p_route_code text, p_limit integer, p_strict boolean, p_heads_only boolean,
    OUT ready bigint[], OUT blocked bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH cand AS MATERIALIZED (
        SELECT d.delivery_id, d.aggregate_id, d.event_seq
          FROM public.iu_delivery d
         WHERE d.route_code = p_route_code
           AND d.state IN ('pending', 'retrying', 'inflight')
           AND d.available_at <= now()
         ORDER BY d.available_at, d.event_seq
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), streams AS (
        SELECT c.aggregate_id, count(*) AS n FROM cand c GROUP BY c.aggregate_id
    ), firsts AS MATERIALIZED (
        -- MATERIALIZED: with large backlogs the planner otherwise pushes the join
        -- with cand into the LATERAL loop and rescans cand once per stream
        -- (batch-squared work: 89 ms instead of 17 ms per claim at 100k).
        -- The first n unfinished deliveries of each claimed stream, n = how many
        -- of its rows were claimed: if they are all ours, all ours are clear;
        -- ours after the first foreign one are blocked. One index range scan of
        -- at most n rows per stream (LATERAL: the claim costs the batch size,
        -- never the backlog).
        SELECT e.delivery_id, e.aggregate_id, e.event_seq
          FROM streams s
          CROSS JOIN LATERAL (
                SELECT e.delivery_id, e.aggregate_id, e.event_seq
                  FROM public.iu_delivery e
                 WHERE e.route_code = p_route_code
                   AND e.aggregate_id = s.aggregate_id
                   AND e.state IN ('pending', 'inflight', 'retrying', 'held', 'dead')
                   AND (e.state <> 'dead' OR p_strict)
                 ORDER BY e.event_seq
                 LIMIT s.n) e
    ), ranked AS (
        SELECT f.delivery_id, f.event_seq,
               bool_and(c.delivery_id IS NOT NULL) OVER w AS clear,  -- nothing foreign before it
               row_number() OVER w AS pos                            -- 1 = the stream's head
          FROM firsts f
          LEFT JOIN cand c ON c.delivery_id = f.delivery_id
        WINDOW w AS (PARTITION BY f.aggregate_id ORDER BY f.event_seq)
    ), ready_rows AS (
        SELECT r.delivery_id, r.event_seq FROM ranked r
         WHERE r.clear AND (r.pos = 1 OR NOT p_heads_only)
    )
    SELECT coalesce((SELECT array_agg(x.delivery_id ORDER BY x.event_seq) FROM ready_rows x), '{}'),
           coalesce((SELECT array_agg(c.delivery_id ORDER BY c.event_seq) FROM cand c
                      WHERE c.delivery_id NOT IN (SELECT x.delivery_id FROM ready_rows x)), '{}')
      INTO ready, blocked;
    PERFORM public.fn_iu_worker_hold(p_route_code, blocked, p_strict);
END
$$;
