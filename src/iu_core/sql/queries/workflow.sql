-- Named queries of the workflow target and its commands (iu_core.workflow).

-- statement_timeout --
SELECT current_setting('statement_timeout')

-- set_statement_timeout --
-- Local to the current transaction (or savepoint): a rolled-back savepoint undoes it.
SELECT set_config('statement_timeout', %(value)s, true)

-- route_backlog --
-- Every workflow route with its unfinished deliveries by state (dead letters apart).
SELECT r.route_code,
       r.event_type,
       r.target_ref,
       r.dry_run,
       count(d.delivery_id) FILTER (WHERE d.state = 'pending')  AS pending,
       count(d.delivery_id) FILTER (WHERE d.state = 'inflight') AS inflight,
       count(d.delivery_id) FILTER (WHERE d.state = 'retrying') AS retrying,
       count(d.delivery_id) FILTER (WHERE d.state = 'held')     AS held
  FROM public.iu_outbound_route r
  LEFT JOIN public.iu_delivery d
         ON d.route_code = r.route_code
        AND d.state IN ('pending', 'inflight', 'retrying', 'held')
 WHERE r.target_kind = 'workflow'
 GROUP BY r.route_code, r.event_type, r.target_ref, r.dry_run
 ORDER BY r.route_code
