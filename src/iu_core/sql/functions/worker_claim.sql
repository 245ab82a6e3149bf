-- Claims the heads of up to p_limit streams (only the head event of an IU is
-- ever in flight on a route) and leases them for p_lease_s seconds under a
-- fresh token. A delivery whose previous lease expired (its worker died) gets
-- a failed attempt row for the lost attempt first; if that was its last
-- attempt it goes to the dead-letter queue instead of being claimed again.
-- Each row carries the event's stored trace context (NULL when it was written
-- without tracing): the attempt's span continues that trace.
CREATE OR REPLACE FUNCTION fn_iu_worker_claim(p_route_code text, p_limit integer, p_worker text, p_lease_s numeric)
RETURNS TABLE (delivery_id bigint, event_id uuid, event_seq bigint, aggregate_id uuid, event_type text,
               payload jsonb, occurred_at timestamptz, attempt_no integer, lease_token uuid,
               traceparent text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route   public.iu_outbound_route%ROWTYPE;
    v_ready   bigint[];
    v_blocked bigint[];
    v_lost    bigint[];
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF public.fn_iu_worker_route_blocked(v_route) IS NOT NULL
       OR v_route.dry_run OR v_route.target_kind = 'sql_function' THEN
        RETURN;
    END IF;

    SELECT c.ready, c.blocked INTO v_ready, v_blocked
      FROM public.fn_iu_worker_claim_rows(p_route_code,
               public.fn_iu_worker_batch_limit(v_route, p_limit),
               v_route.ordering_policy = 'strict', true) c;

    -- Leases that expired: record the lost attempt.
    SELECT coalesce(array_agg(d.delivery_id), '{}') INTO v_lost
      FROM public.iu_delivery d
     WHERE d.delivery_id = ANY (v_ready) AND d.state = 'inflight';
    IF cardinality(v_lost) > 0 THEN
        PERFORM public.fn_iu_worker_record(
            p_route_code, array_agg(d.delivery_id), array_agg(d.attempts), array_agg('failed'::text),
            array_agg(jsonb_build_object('reason', 'lease expired: the worker holding the delivery stopped',
                                         'lease_expired', true, 'lease_owner', d.lease_owner,
                                         'retryable', true)),
            array_agg(d.available_at), array_agg(now()), array_agg(d.lease_token))
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_lost);
        -- claim only those that are still retryable
        SELECT coalesce(array_agg(d.delivery_id), '{}') INTO v_ready
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_ready) AND d.state IN ('pending', 'retrying');
    END IF;

    -- An event that is no longer in the outbox cannot be delivered: a permanent failure.
    IF EXISTS (SELECT 1 FROM public.iu_delivery d
                WHERE d.delivery_id = ANY (v_ready)
                  AND NOT EXISTS (SELECT 1 FROM public.event_outbox o WHERE o.event_id = d.event_id)) THEN
        PERFORM public.fn_iu_worker_record(
            p_route_code, array_agg(d.delivery_id), array_agg(d.attempts + 1), array_agg('failed'::text),
            array_agg(jsonb_build_object('reason', 'the event is no longer in event_outbox',
                                         'retryable', false)),
            array_agg(now()), array_agg(now()), array_agg(NULL::uuid))
          FROM public.iu_delivery d
         WHERE d.delivery_id = ANY (v_ready)
           AND NOT EXISTS (SELECT 1 FROM public.event_outbox o WHERE o.event_id = d.event_id);
    END IF;

    RETURN QUERY
    UPDATE public.iu_delivery d
       SET state = 'inflight',
           attempts = d.attempts + 1,
           lease_owner = p_worker,
           lease_token = gen_random_uuid(),
           available_at = now() + make_interval(secs => greatest(p_lease_s, 1)::float8)
      FROM public.event_outbox o
     WHERE d.delivery_id = ANY (v_ready)
       AND o.event_id = d.event_id
    RETURNING d.delivery_id, d.event_id, d.event_seq, d.aggregate_id, o.event_type, o.payload,
              o.occurred_at, d.attempts, d.lease_token, o.traceparent;
END
$$;
