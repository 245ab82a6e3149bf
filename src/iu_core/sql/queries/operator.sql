-- Named queries of the operator surface (operator.py): gate, allowlist, routes, audit.

-- set_actor --
-- Who and what the audit triggers record for this transaction (migration 005).
SELECT set_config('iu_core.actor', %(actor)s, true), set_config('iu_core.context', %(context)s, true)

-- get_config --
SELECT key, value FROM dot_config
 WHERE key IN ('iu_core.delivery_enabled', 'iu_core.delivery_live_routes')
   FOR UPDATE

-- gate_state --
SELECT fn_iu_delivery_gate_open() AS gate_open,
       coalesce((SELECT value FROM dot_config WHERE key = 'iu_core.delivery_live_routes'
                  AND jsonb_typeof(value) = 'array'), '[]'::jsonb) AS allowlist

-- set_config --
INSERT INTO dot_config (key, value, updated_at) VALUES (%(key)s, %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()

-- list_routes --
SELECT r.*, fn_iu_route_allowlisted(r.route_code) AS allowlisted
  FROM iu_outbound_route r
 ORDER BY r.route_code

-- get_route --
SELECT r.*, fn_iu_route_allowlisted(r.route_code) AS allowlisted
  FROM iu_outbound_route r
 WHERE r.route_code = %(route_code)s

-- existing_routes --
SELECT route_code FROM iu_outbound_route WHERE route_code = ANY(%(route_codes)s)

-- add_route --
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref)
VALUES (%(route_code)s, %(event_type)s, %(target_kind)s, %(target_ref)s)

-- remove_route --
DELETE FROM iu_outbound_route WHERE route_code = %(route_code)s RETURNING route_code

-- audit --
SELECT audit_id, changed_at, actor, context, object_type, object_key, action, before, after
  FROM iu_operator_audit
 WHERE (%(object_key)s::text IS NULL OR object_key = %(object_key)s)
 ORDER BY audit_id DESC
 LIMIT %(limit)s

-- set_route --
-- Every policy column at once; a NULL parameter keeps the current value.
-- rate_limit_per_s is nullable, so it has its own "set it" flag.
UPDATE iu_outbound_route
   SET target_kind               = coalesce(%(target_kind)s, target_kind),
       target_ref                = coalesce(%(target_ref)s, target_ref),
       dry_run                   = coalesce(%(dry_run)s, dry_run),
       max_attempts              = coalesce(%(max_attempts)s, max_attempts),
       base_delay_ms             = coalesce(%(base_delay_ms)s, base_delay_ms),
       ordering_policy           = coalesce(%(ordering_policy)s, ordering_policy),
       allow_networks            = coalesce(%(allow_networks)s::cidr[], allow_networks),
       timeout_s                 = coalesce(%(timeout_s)s, timeout_s),
       connect_timeout_s         = coalesce(%(connect_timeout_s)s, connect_timeout_s),
       max_in_flight             = coalesce(%(max_in_flight)s, max_in_flight),
       rate_limit_per_s          = CASE WHEN %(set_rate_limit)s THEN %(rate_limit_per_s)s::numeric
                                        ELSE rate_limit_per_s END,
       circuit_failure_threshold = coalesce(%(circuit_failure_threshold)s, circuit_failure_threshold),
       circuit_cooldown_s        = coalesce(%(circuit_cooldown_s)s, circuit_cooldown_s),
       updated_at                = now()
 WHERE route_code = %(route_code)s
RETURNING route_code
