-- The retention horizon: backfill reaches only events with occurred_at at or
-- after horizon_at (NULL: nothing pruned yet) and event_seq above
-- horizon_seq. Events before it, or their deliveries, may have been pruned:
-- delivering them again could repeat a delivery already made, so they are out
-- of reach by construction. FOR SHARE: a prune batch that is moving the
-- horizon finishes first, and none starts until the caller's transaction ends.
CREATE OR REPLACE FUNCTION fn_iu_retention_horizon(OUT horizon_at timestamptz, OUT horizon_seq bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.horizon_at, h.horizon_seq
      FROM public.iu_retention_horizon h
     WHERE h.singleton
       FOR SHARE
$$;
