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
    v_route    public.iu_outbound_route%ROWTYPE;
    v_strict   boolean;
    v_sent     integer;
    v_skipped  integer;
    v_retrying integer;
    v_dead     integer;
    v_total    integer;
    v_release  uuid[];
    v_disable  text;
    v_failures integer;
    v_last_err text;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    v_strict := coalesce(v_route.ordering_policy, 'strict') = 'strict';

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
                        AND res.attempt_no - d.budget_from < coalesce(v_route.max_attempts, 1) THEN 'retrying'
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
                       least(v_route.max_delay_ms, v_route.base_delay_ms * power(2, least(x.attempt_no - d.budget_from, 60) - 1))
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
    )
    SELECT count(*) FILTER (WHERE u.new_state = 'sent'),
           count(*) FILTER (WHERE u.new_state = 'skipped'),
           count(*) FILTER (WHERE u.new_state = 'retrying'),
           count(*) FILTER (WHERE u.new_state = 'dead'),
           count(*),
           array_agg(DISTINCT u.aggregate_id)
               FILTER (WHERE u.new_state IN ('sent', 'skipped') OR (u.new_state = 'dead' AND NOT v_strict)),
           min(u.detail ->> 'reason') FILTER (WHERE coalesce((u.detail ->> 'disable_route')::boolean, false)),
           count(*) FILTER (WHERE u.status = 'failed'),
           max(u.detail ->> 'reason') FILTER (WHERE u.status = 'failed')
      INTO v_sent, v_skipped, v_retrying, v_dead, v_total, v_release, v_disable, v_failures, v_last_err
      FROM upd u;

    -- Ordering: a finished head lets the next held event of its IU go.
    PERFORM public.fn_iu_worker_release_held(p_route_code, v_release);

    -- A target that says the endpoint is gone (HTTP 410) disables the route;
    -- an operator must enable it again. If the guard refuses the update (the
    -- gate was closed or the allowlist changed meanwhile), the route is also
    -- put back into dry-run, which the guard always allows: fail-closed.
    IF v_disable IS NOT NULL AND v_route.route_code IS NOT NULL THEN
        BEGIN
            UPDATE public.iu_outbound_route
               SET enabled = false, disabled_reason = left(v_disable, 500), updated_at = now()
             WHERE route_code = p_route_code;
        EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
            UPDATE public.iu_outbound_route
               SET enabled = false, dry_run = true, disabled_reason = left(v_disable, 500), updated_at = now()
             WHERE route_code = p_route_code;
        END;
    END IF;

    -- Circuit: any success closes it; failures count up and open it at the
    -- route's threshold for its cool-down. Written only when something changes.
    IF v_failures > 0 OR (v_sent + v_skipped > 0 AND EXISTS (
            SELECT 1 FROM public.iu_route_circuit c
             WHERE c.route_code = p_route_code AND c.consecutive_failures > 0)) THEN
        INSERT INTO public.iu_route_circuit AS c (route_code, consecutive_failures, open_until, last_failure_at, last_error)
        VALUES (p_route_code, CASE WHEN v_sent + v_skipped > 0 THEN 0 ELSE v_failures END,
                CASE WHEN v_sent + v_skipped = 0 AND v_failures >= v_route.circuit_failure_threshold
                     THEN now() + make_interval(secs => v_route.circuit_cooldown_s) END,
                CASE WHEN v_failures > 0 THEN now() END,
                left(v_last_err, 500))
        ON CONFLICT (route_code) DO UPDATE
           SET consecutive_failures = CASE WHEN v_sent + v_skipped > 0 THEN 0
                                           ELSE c.consecutive_failures + v_failures END,
               open_until = CASE WHEN v_sent + v_skipped > 0 THEN NULL
                                 WHEN c.consecutive_failures + v_failures >= v_route.circuit_failure_threshold
                                 THEN now() + make_interval(secs => v_route.circuit_cooldown_s)
                                 ELSE c.open_until END,
               last_failure_at = coalesce(EXCLUDED.last_failure_at, c.last_failure_at),
               last_error = coalesce(EXCLUDED.last_error, c.last_error),
               updated_at = now();
    END IF;

    RETURN QUERY SELECT v_sent, v_skipped, v_retrying, v_dead, cardinality(p_ids) - v_total;
END
$$;
