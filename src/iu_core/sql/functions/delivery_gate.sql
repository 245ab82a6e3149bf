-- The gate is open only when the key holds JSON true; a missing or malformed
-- key reads as closed (fail-closed).
CREATE OR REPLACE FUNCTION fn_iu_delivery_gate_open() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT value = 'true'::jsonb FROM public.dot_config
          WHERE key = 'iu_core.delivery_enabled'),
        false)
$$;

-- A route is allowlisted when its code is a string element of the JSON array;
-- anything but an array reads as an empty allowlist.
CREATE OR REPLACE FUNCTION fn_iu_route_allowlisted(p_route_code text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT jsonb_typeof(value) = 'array' AND value @> jsonb_build_array(p_route_code)
           FROM public.dot_config
          WHERE key = 'iu_core.delivery_live_routes'),
        false)
$$;
