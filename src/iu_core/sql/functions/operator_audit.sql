-- One audit row per changed row. An UPDATE that changes nothing is not recorded.
-- Who: fn_iu_operator_actor() (operator_audit_more.sql). A console user's
-- password hash is never copied into the audit.
CREATE OR REPLACE FUNCTION fn_iu_operator_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    v_after  jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    v_row    jsonb;
BEGIN
    IF TG_TABLE_NAME = 'iu_console_user' THEN
        v_before := v_before - 'password_hash'
                    || CASE WHEN v_before IS NOT NULL AND v_after IS NOT NULL
                                 AND OLD.password_hash IS DISTINCT FROM NEW.password_hash
                            THEN '{"password": "changed"}'::jsonb ELSE '{}'::jsonb END;
        v_after := v_after - 'password_hash';
    END IF;
    v_row := coalesce(v_after, v_before);
    IF TG_OP = 'UPDATE' AND v_before = v_after THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
    VALUES (public.fn_iu_operator_actor(),
            public.fn_iu_operator_context(),
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN 'route'
                               WHEN 'iu_internal_consumer' THEN 'consumer'
                               WHEN 'iu_retention_setting' THEN 'retention'
                               WHEN 'iu_console_user' THEN 'console_user'
                               WHEN 'iu_unit_tag' THEN 'unit'
                               ELSE 'config' END,
            CASE TG_TABLE_NAME WHEN 'iu_outbound_route' THEN v_row ->> 'route_code'
                               WHEN 'iu_internal_consumer' THEN v_row ->> 'consumer_name'
                               WHEN 'iu_retention_setting' THEN v_row ->> 'table_name'
                               WHEN 'iu_console_user' THEN v_row ->> 'user_name'
                               WHEN 'iu_unit_tag' THEN
                                   coalesce((SELECT u.code FROM public.information_unit u
                                              WHERE u.iu_id = (v_row ->> 'iu_id')::uuid),
                                            v_row ->> 'iu_id')
                               ELSE v_row ->> 'key' END,
            lower(TG_OP),
            v_before,
            v_after);
    RETURN NULL;  -- AFTER trigger: the result is ignored
END
$$;
