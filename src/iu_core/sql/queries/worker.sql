-- Named queries of the delivery worker and its operator commands
-- (iu_core.worker.store). State transitions live in plpgsql functions of
-- sql/functions/worker_*.sql; these blocks call them or read state.

-- load_routes --
-- Every route with what the worker needs to schedule it, and whether it may
-- deliver now: the one answer, fn_iu_route_refusal, in the same snapshot.
SELECT r.route_code, r.event_type, r.target_kind, r.target_ref, r.dry_run, r.enabled,
       r.ordering_policy, r.max_attempts, r.timeout_s::float8 AS timeout_s,
       r.connect_timeout_s::float8 AS connect_timeout_s, r.max_in_flight,
       r.rate_limit_per_s::float8 AS rate_limit_per_s,
       (SELECT f.reason FROM fn_iu_route_refusal(r) f) AS refusal,
       c.open_until AS circuit_open_until
  FROM iu_outbound_route r
  LEFT JOIN iu_route_circuit c ON c.route_code = r.route_code
 ORDER BY r.route_code

-- decide_batch --
SELECT fn_iu_worker_decide_batch(%(route_code)s, %(limit)s::integer)

-- deliver_sql_batch --
-- One statement, one transaction: the projection rows, the attempts and the
-- states of the batch. Unless durable, its commit does not wait for the WAL
-- flush (synchronous_commit off for this transaction only): a crash of the
-- server can then undo the last batches, each one whole, and their deliveries
-- are pending again and delivered again. Nothing is half-written or doubled.
WITH commit_mode AS MATERIALIZED (
    SELECT CASE WHEN NOT %(durable)s::boolean
                THEN set_config('synchronous_commit', 'off', true) END AS mode
)
SELECT b.claimed, b.sent, b.retrying, b.dead, b.blocked, b.paused
  FROM commit_mode, fn_iu_worker_deliver_sql_batch(%(route_code)s, %(limit)s::integer) b

-- claim --
SELECT delivery_id, event_id, event_seq, aggregate_id, event_type, payload, occurred_at,
       attempt_no, lease_token, traceparent
  FROM fn_iu_worker_claim(%(route_code)s, %(limit)s::integer, %(worker)s, %(lease_s)s::numeric)

-- claim_http --
-- The claim of an HTTP route with everything its sender needs, in one round
-- trip: the leased deliveries (payload, occurred_at) and, on the first row
-- only, the route's HTTP settings and active credentials (current first). The
-- claim itself checked gate, allowlist, enabled and circuit in its transaction.
WITH c AS MATERIALIZED (
    SELECT * FROM public.fn_iu_worker_claim(%(route_code)s, %(limit)s::integer, %(worker)s, %(lease_s)s::numeric)
)
SELECT c.delivery_id, c.event_id, c.event_seq, c.aggregate_id, c.event_type, c.payload, c.occurred_at,
       c.attempt_no, c.lease_token, c.traceparent,
       CASE WHEN row_number() OVER () = 1 THEN (
           SELECT jsonb_build_object(
                      'target_kind', r.target_kind, 'target_ref', r.target_ref, 'event_type', r.event_type,
                      'timeout_s', r.timeout_s, 'connect_timeout_s', r.connect_timeout_s,
                      'allow_networks', to_jsonb(r.allow_networks::text[]),
                      'max_payload_bytes', r.max_payload_bytes,
                      'signature', r.signature,
                      'credentials', coalesce((
                          SELECT jsonb_agg(jsonb_build_object('kind', k.kind, 'secret', k.secret,
                                                              'current', k.superseded_at IS NULL)
                                           ORDER BY k.kind, k.superseded_at NULLS FIRST, k.credential_id DESC)
                            FROM public.iu_route_credential k
                           WHERE k.route_code = r.route_code
                             AND (k.superseded_at IS NULL OR k.valid_until > now())), '[]'::jsonb))
             FROM public.iu_outbound_route r WHERE r.route_code = %(route_code)s)
       END AS settings
  FROM c

-- record --
-- One statement records a batch of outcomes (attempts, states, retries, dead
-- letters, circuit, 410 disable: fn_iu_worker_record), then keeps the route's failing-since clock and
-- disables a route failing for its disable_after_failing_hours. The batch comes
-- as ONE jsonb array of {i, id, n, s, d, t0, t1, l} (serialised once by the
-- worker, not as eight arrays dumped element by element) and is unpacked here.
SELECT r.sent, r.skipped, r.retrying, r.dead, r.fenced,
       public.fn_iu_worker_disable_failing(%(route_code)s::text) AS auto_disabled
  FROM (SELECT array_agg(x.id ORDER BY x.i) AS ids, array_agg(x.n ORDER BY x.i) AS attempt_nos,
               array_agg(x.s ORDER BY x.i) AS statuses, array_agg(x.d ORDER BY x.i) AS details,
               array_agg(x.t0 ORDER BY x.i) AS started, array_agg(x.t1 ORDER BY x.i) AS finished,
               array_agg(x.l ORDER BY x.i) AS leases
          FROM jsonb_to_recordset(%(batch)s::jsonb)
               AS x(i integer, id bigint, n integer, s text, d jsonb, t0 timestamptz, t1 timestamptz, l uuid)) b
  CROSS JOIN LATERAL public.fn_iu_worker_record(%(route_code)s::text, b.ids, b.attempt_nos, b.statuses,
                                                b.details, b.started, b.finished, b.leases) r

-- release --
SELECT public.fn_iu_worker_release(%(ids)s::bigint[], %(leases)s::uuid[])

-- renew --
SELECT public.fn_iu_worker_renew(%(ids)s::bigint[], %(leases)s::uuid[], %(lease_s)s::numeric)

-- sweep --
SELECT fn_iu_worker_sweep()

-- next_due --
-- Seconds until the earliest claimable delivery of the given routes is due
-- (negative: due now; NULL: nothing waiting). One index probe per route.
SELECT extract(epoch FROM min(n.available_at) - now())::float8 AS seconds
  FROM unnest(%(routes)s::text[]) AS r(route_code)
  CROSS JOIN LATERAL (
        SELECT d.available_at FROM iu_delivery d
         WHERE d.route_code = r.route_code AND d.state IN ('pending', 'retrying', 'inflight')
         ORDER BY d.available_at LIMIT 1) n
