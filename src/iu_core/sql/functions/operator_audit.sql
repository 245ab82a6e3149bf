-- One audit row per changed row. An UPDATE that changes nothing is not recorded.
CREATE OR REPLACE FUNCTION fn_iu_operator_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    v_after  jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    v_row    jsonb := coalesce(v_after, v_before);
BEGIN
    IF TG_OP = 'UPDATE' AND v_before = v_after THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
    VALUES (coalesce(nullif(current_setting('iu_core.actor', true), ''), session_user::text),
            nullif(current_setting('iu_core.context', true), ''),
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN 'route'
                               WHEN 'iu_internal_consumer' THEN 'consumer'
                               ELSE 'config' END,
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN v_row ->> 'route_code'
                               WHEN 'iu_internal_consumer' THEN v_row ->> 'consumer_name'
                               ELSE v_row ->> 'key' END,
            lower(TG_OP),
            v_before,
            v_after);
    RETURN NULL;  -- AFTER trigger: the result is ignored
END
$$;
