-- Writes a batch of outcomes of one route in one statement: each delivery's
-- new state, its attempt row, its dead letter when it died; returns the
-- counts and what the caller acts on next.
--
-- p_lease_tokens: NULL entries for deliveries locked by the calling
-- transaction (sql_function); the claim's token for inflight deliveries. A
-- result whose token no longer matches (the lease expired and another worker
-- took the delivery over) is not recorded: it counts as 'fenced'.
--
-- Outcome -> new state:
--   sent                                            -> sent
--   skipped                                         -> skipped
--   failed, retryable, attempts left                -> retrying at now() + delay, where
--        delay = max(Retry-After, jittered backoff), backoff = min(max_delay, base * 2^(n-1)),
--        jittered uniformly in [backoff/2, backoff]
--   failed, permanent (retryable=false) or the last attempt -> dead + open dead letter
--        + its iu_dead_lettered event (operational_events.sql)
CREATE OR REPLACE FUNCTION fn_iu_worker_write_outcomes(
    p_route_code   text,
    p_route        public.iu_outbound_route,  -- NULL fields when the route is gone
    p_ids          bigint[],
    p_attempt_nos  integer[],
    p_statuses     text[],
    p_details      jsonb[],
    p_started      timestamptz[],
    p_finished     timestamptz[],
    p_lease_tokens uuid[],
    OUT n_sent         integer,
    OUT n_skipped      integer,
    OUT n_retrying     integer,
    OUT n_dead         integer,
    OUT n_recorded     integer,   -- the rest were fenced
    OUT heads_done     uuid[],    -- IUs whose head finished: their next held event may go
    OUT gone_reason    text,      -- a target said the endpoint is gone (HTTP 410): disable the route
    OUT n_failed       integer,   -- failed attempts, for the circuit
    OUT failure_reason text)      -- one of their reasons, for the circuit
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH res AS (
        SELECT u.delivery_id, u.attempt_no, u.status, coalesce(u.detail, '{}'::jsonb) AS detail,
               u.started_at, u.finished_at, u.lease_token
          FROM unnest(p_ids, p_attempt_nos, p_statuses, p_details, p_started, p_finished, p_lease_tokens)
               AS u(delivery_id, attempt_no, status, detail, started_at, finished_at, lease_token)
    ), decided AS (
        SELECT res.*,
               CASE
                   WHEN res.status = 'sent' THEN 'sent'
                   WHEN res.status = 'skipped' THEN 'skipped'
                   WHEN coalesce((res.detail ->> 'retryable')::boolean, true)
                        AND res.attempt_no - d.budget_from < coalesce(p_route.max_attempts, 1) THEN 'retrying'
                   ELSE 'dead'
               END AS new_state
          FROM res
          JOIN public.iu_delivery d ON d.delivery_id = res.delivery_id
         WHERE d.delivery_id = ANY (p_ids)  -- the primary key's index: without it, a hash of the whole backlog
    ), upd AS (
        UPDATE public.iu_delivery d
           SET state        = x.new_state,
               attempts     = x.attempt_no,
               available_at = CASE WHEN x.new_state = 'retrying' THEN
                   now() + make_interval(secs => greatest(
                       least(coalesce((x.detail ->> 'retry_after_s')::float8, 0), 86400),
                       least(p_route.max_delay_ms, p_route.base_delay_ms * power(2, least(x.attempt_no - d.budget_from, 60) - 1))
                           * (0.5 + random() * 0.5) / 1000.0))
                   ELSE d.available_at END,
               lease_owner  = NULL,
               lease_token  = NULL,
               last_error   = CASE WHEN x.status = 'failed'
                                   THEN left(coalesce(x.detail ->> 'reason', 'delivery failed'), 500)
                                   ELSE d.last_error END,
               finished_at  = CASE WHEN x.new_state IN ('sent', 'skipped', 'dead') THEN x.finished_at END
          FROM decided x
         WHERE d.delivery_id = x.delivery_id
           AND d.route_code = p_route_code
           -- Fence: only the holder of the current lease, or the transaction
           -- holding the row lock (NULL token), may record a result.
           AND (x.lease_token IS NULL
                OR (d.state = 'inflight' AND d.lease_token = x.lease_token))
           AND d.state IN ('pending', 'retrying', 'inflight', 'held')
        RETURNING d.delivery_id, d.event_id, d.aggregate_id, x.new_state, x.attempt_no, x.status,
                  x.detail, x.started_at, x.finished_at
    ), att AS (
        INSERT INTO public.iu_route_attempt (route_code, event_ref, attempt_no, status, detail, started_at, finished_at)
        SELECT p_route_code, u.event_id, u.attempt_no, u.status, u.detail, u.started_at, u.finished_at
          FROM upd u
    ), dl AS (
        INSERT INTO public.iu_route_dead_letter (route_code, event_ref, reason, attempts)
        SELECT p_route_code, u.event_id,
               left(coalesce(u.detail ->> 'reason', 'delivery failed'), 500)
                   || CASE WHEN coalesce((u.detail ->> 'retryable')::boolean, true)
                           THEN format(' (gave up after %s attempts)', u.attempt_no) ELSE '' END,
               u.attempt_no
          FROM upd u
         WHERE u.new_state = 'dead'
        RETURNING dead_letter_id, event_ref, reason, attempts
    ), dl_event AS (
        -- One iu_dead_lettered per new dead letter, unless this route carries
        -- operational events itself (the loop rule, operational_events.sql).
        INSERT INTO public.event_outbox (event_type, aggregate_type, aggregate_id, payload)
        SELECT 'iu_dead_lettered', 'iu_outbound_route', md5('iu_outbound_route:' || p_route_code)::uuid,
               jsonb_build_object('schema_version', '1.0', 'route_code', p_route_code,
                                  'dead_letter_id', l.dead_letter_id,
                                  'event_id', l.event_ref, 'reason', l.reason, 'attempts', l.attempts)
          FROM dl l
         WHERE public.fn_iu_operational_route_emits(p_route_code)
         ORDER BY l.dead_letter_id
    )
    SELECT count(*) FILTER (WHERE u.new_state = 'sent'),
           count(*) FILTER (WHERE u.new_state = 'skipped'),
           count(*) FILTER (WHERE u.new_state = 'retrying'),
           count(*) FILTER (WHERE u.new_state = 'dead'),
           count(*),
           array_agg(DISTINCT u.aggregate_id)
               FILTER (WHERE u.new_state IN ('sent', 'skipped') OR (u.new_state = 'dead' AND p_route.ordering_policy = 'relaxed')),
           min(u.detail ->> 'reason') FILTER (WHERE coalesce((u.detail ->> 'disable_route')::boolean, false)),
           count(*) FILTER (WHERE u.status = 'failed'),
           max(u.detail ->> 'reason') FILTER (WHERE u.status = 'failed')
      INTO n_sent, n_skipped, n_retrying, n_dead, n_recorded, heads_done, gone_reason, n_failed, failure_reason
      FROM upd u;
END
$$;

-- Records a batch of outcomes of one route: the deliveries' new states with
-- their attempts and dead letters (fn_iu_worker_write_outcomes), then what
-- follows from them: the IUs' next held events (ordering), the route disabled
-- when its endpoint is gone, the route's circuit.
CREATE OR REPLACE FUNCTION fn_iu_worker_record(
    p_route_code   text,
    p_ids          bigint[],
    p_attempt_nos  integer[],
    p_statuses     text[],
    p_details      jsonb[],
    p_started      timestamptz[],
    p_finished     timestamptz[],
    p_lease_tokens uuid[])
RETURNS TABLE (sent integer, skipped integer, retrying integer, dead integer, fenced integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route public.iu_outbound_route%ROWTYPE;
    v_out   record;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    SELECT * INTO v_out
      FROM public.fn_iu_worker_write_outcomes(p_route_code, v_route, p_ids, p_attempt_nos, p_statuses,
                                              p_details, p_started, p_finished, p_lease_tokens) o;

    -- Ordering: a finished head lets the next held event of its IU go.
    PERFORM public.fn_iu_worker_release_held(p_route_code, v_out.heads_done);

    -- A target that says the endpoint is gone (HTTP 410) disables the route
    -- (dry-run forced if the guard refuses); an operator must enable it again.
    IF v_out.gone_reason IS NOT NULL AND v_route.route_code IS NOT NULL THEN
        PERFORM public.fn_iu_route_disable(p_route_code, v_out.gone_reason);
    END IF;

    PERFORM public.fn_iu_worker_circuit_count(v_route, v_out.n_sent + v_out.n_skipped,
                                              v_out.n_failed, v_out.failure_reason);

    RETURN QUERY SELECT v_out.n_sent, v_out.n_skipped, v_out.n_retrying, v_out.n_dead,
                        cardinality(p_ids) - v_out.n_recorded;
END
$$;
