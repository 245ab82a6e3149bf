-- Claims, delivers in event_seq order, writes the attempt rows and the
-- deliveries' new states, all in the caller's single transaction: the
-- projection row, the attempt and the state commit together or not at all, so
-- a worker killed at any instant leaves either the whole batch done or nothing
-- (exactly-once effect; rows locked, no lease needed). Every delivered event
-- gets its own attempt row.
--
-- May this route deliver: asked ONCE per batch, of fn_iu_route_refusal (through
-- fn_iu_worker_route_blocked), at the start of the batch's own transaction,
-- plus the two checks of the seam that are not refusals (kind sql_function,
-- target_ref a registered consumer). As safe as asking per event: the batch's
-- deliveries all become visible at its one commit, so with a per-event check
-- too a gate closed (or allowlist/route changed) during a batch could not stop
-- the events already checked in it; either way every committed delivery was
-- allowed by a check inside its own transaction, and at most the batch in
-- progress on each lane commits after the change. The next batch asks again.
--
-- Fast path for the built-in consumer (fn_iu_structure_consumer): the whole
-- batch goes to its set-based form, fn_iu_structure_consume (the consumer's own
-- judgement, then ONE INSERT ... SELECT ... ON CONFLICT DO NOTHING); each
-- event's attempt detail says whether its row was added (1) or already there
-- (0), exactly as the seam would.
--
-- Any other registered consumer, or when any event of the fast path is
-- malformed or raises (it rolls back): the batch runs one event at a time
-- through the seam of record fn_iu_route_deliver (its checks again, then the
-- consumer), each in its own block, so one bad event fails alone: later events
-- of its IU in the batch are left for later (they will wait behind it), other
-- IUs go on. A refusal of the seam (gate closed, not allowlisted, dry-run,
-- disabled, kind changed) stops the batch: the rest stays pending.
--
-- Failures: IU006 (malformed payload) and data/integrity errors (22xxx, 23xxx)
-- are permanent; anything else (IU005 an unregistered consumer, a deadlock, ...)
-- is retried with backoff.
CREATE OR REPLACE FUNCTION fn_iu_worker_deliver_sql_batch(p_route_code text, p_limit integer)
RETURNS TABLE (claimed integer, sent integer, retrying integer, dead integer, blocked integer, paused text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_reason   text;
    v_ready    bigint[];
    v_blocked  bigint[];
    v_consumer regprocedure;
    v_done     boolean := false;  -- the fast path delivered the batch
    v_ids      bigint[] := '{}';
    v_nos      integer[] := '{}';
    v_statuses text[] := '{}';
    v_details  jsonb[] := '{}';
    v_started  timestamptz[] := '{}';
    v_finished timestamptz[] := '{}';
    v_events   uuid[];
    v_payloads jsonb[];
    v_added    uuid[];
    v_failed_streams uuid[] := '{}';
    v_rec      record;
    v_t0       timestamptz;
    v_status   text;
    v_detail   jsonb;
    v_state    text;
    v_msg      text;
    v_paused   text;
    v_out      record;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    v_reason := public.fn_iu_worker_route_blocked(v_route);
    IF v_reason IS NULL AND (v_route.dry_run OR v_route.target_kind <> 'sql_function') THEN
        v_reason := 'not a live sql_function route';
    END IF;
    IF v_reason IS NOT NULL THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, v_reason;
        RETURN;
    END IF;

    SELECT c.ready, c.blocked INTO v_ready, v_blocked
      FROM public.fn_iu_worker_claim_rows(p_route_code,
               public.fn_iu_worker_batch_limit(v_route, p_limit),
               v_route.ordering_policy = 'strict', false) c;
    IF cardinality(v_ready) = 0 THEN
        RETURN QUERY SELECT cardinality(v_blocked), 0, 0, 0, cardinality(v_blocked), NULL::text;
        RETURN;
    END IF;

    SELECT c.consumer INTO v_consumer
      FROM public.iu_internal_consumer c WHERE c.consumer_name = v_route.target_ref;

    IF v_consumer = 'public.fn_iu_structure_consumer(uuid, jsonb)'::regprocedure THEN
        BEGIN  -- fast path: the whole batch through the set-based consumer
            v_t0 := clock_timestamp();
            SELECT array_agg(d.delivery_id ORDER BY u.ord), array_agg(d.attempts + 1 ORDER BY u.ord),
                   array_agg(d.event_id ORDER BY u.ord), array_agg(o.payload ORDER BY u.ord)
              INTO v_ids, v_nos, v_events, v_payloads
              FROM unnest(v_ready) WITH ORDINALITY AS u(id, ord)
              JOIN public.iu_delivery d ON d.delivery_id = u.id
              LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
             WHERE d.delivery_id = ANY (v_ready);  -- the primary key's index, never a scan of the backlog
            v_added := public.fn_iu_structure_consume(v_events, v_payloads);
            IF cardinality(v_added) = cardinality(v_ids) THEN  -- every row new: the usual case
                v_details := array_fill(jsonb_build_object('consumer', v_route.target_ref, 'rows_added', 1),
                                        ARRAY[cardinality(v_ids)]);
            ELSE  -- some were delivered before (a re-delivery): +0 for those
                SELECT array_agg(jsonb_build_object('consumer', v_route.target_ref,
                                                    'rows_added', (u.event_id = ANY (v_added))::integer)
                                 ORDER BY u.ord)
                  INTO v_details
                  FROM unnest(v_events) WITH ORDINALITY AS u(event_id, ord);
            END IF;
            v_statuses := array_fill('sent'::text, ARRAY[cardinality(v_ids)]);
            v_started := array_fill(v_t0, ARRAY[cardinality(v_ids)]);
            v_finished := array_fill(clock_timestamp(), ARRAY[cardinality(v_ids)]);
            v_done := true;
        EXCEPTION WHEN OTHERS THEN
            v_ids := '{}';  -- to the slow path
            v_nos := '{}';
        END;
    END IF;

    IF NOT v_done THEN  -- slow path: one event per subtransaction
        FOR v_rec IN
            SELECT d.delivery_id, d.event_id, d.attempts, d.aggregate_id, o.payload
              FROM unnest(v_ready) WITH ORDINALITY AS u(id, ord)
              JOIN public.iu_delivery d ON d.delivery_id = u.id
              LEFT JOIN public.event_outbox o ON o.event_id = d.event_id
             ORDER BY u.ord
        LOOP
            CONTINUE WHEN v_rec.aggregate_id = ANY (v_failed_streams);  -- its IU failed earlier in this batch
            v_t0 := clock_timestamp();
            BEGIN
                IF v_rec.payload IS NULL THEN
                    RAISE EXCEPTION 'event % is no longer in event_outbox', v_rec.event_id
                        USING ERRCODE = 'IU006';
                END IF;
                v_detail := public.fn_iu_route_deliver(p_route_code, v_rec.event_id, v_rec.payload) -> 'detail';
                v_status := 'sent';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF public.fn_iu_is_refusal(v_state) THEN
                    v_paused := 'paused: ' || v_msg;
                    EXIT;
                END IF;
                v_failed_streams := array_append(v_failed_streams, v_rec.aggregate_id);
                v_status := 'failed';
                v_detail := jsonb_build_object(
                    'reason', v_msg,
                    'sqlstate', v_state,
                    'retryable', NOT (v_state = 'IU006' OR left(v_state, 2) IN ('22', '23')));
            END;
            v_ids := array_append(v_ids, v_rec.delivery_id);
            v_nos := array_append(v_nos, v_rec.attempts + 1);
            v_statuses := array_append(v_statuses, v_status);
            v_details := array_append(v_details, v_detail);
            v_started := array_append(v_started, v_t0);
            v_finished := array_append(v_finished, clock_timestamp());
        END LOOP;
    END IF;

    SELECT * INTO v_out
      FROM public.fn_iu_worker_record(p_route_code, v_ids, v_nos, v_statuses, v_details,
                                      v_started, v_finished, array_fill(NULL::uuid, ARRAY[cardinality(v_ids)]));
    RETURN QUERY SELECT cardinality(v_ready) + cardinality(v_blocked), v_out.sent, v_out.retrying,
                        v_out.dead, cardinality(v_blocked), v_paused;
END
$$;
