-- Leases of the deliveries a worker holds in flight (the HTTP path): the claim
-- (fn_iu_worker_claim) takes them with a lease token, a recorded result ends
-- them (fn_iu_worker_record), and in between the worker renews them or gives
-- them back. Every write here is fenced by the token: a lease that expired and
-- was taken over by another worker is no longer ours to touch.

-- Gives claimed-but-unsent deliveries back without counting an attempt (the
-- worker stopped sending to the route, e.g. right after an HTTP 410). Fenced by
-- the lease token like a result; the rows become due again at once, and a
-- disabled route simply does not claim them.
CREATE OR REPLACE FUNCTION fn_iu_worker_release(p_ids bigint[], p_leases uuid[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET state = CASE WHEN d.attempts - 1 > 0 THEN 'retrying' ELSE 'pending' END,
           attempts = d.attempts - 1,
           lease_owner = NULL,
           lease_token = NULL,
           available_at = now()
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- Extends the leases of deliveries still in flight (one statement for many).
CREATE OR REPLACE FUNCTION fn_iu_worker_renew(p_ids bigint[], p_leases uuid[], p_lease_s numeric) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE public.iu_delivery d
       SET available_at = now() + make_interval(secs => greatest(p_lease_s, 1)::float8)
      FROM unnest(p_ids, p_leases) AS u(delivery_id, lease_token)
     WHERE d.delivery_id = u.delivery_id
       AND d.state = 'inflight'
       AND d.lease_token = u.lease_token;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
