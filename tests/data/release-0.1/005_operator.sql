-- 005 — the operator's audit trail: every change of a route, of the
-- delivery gate, of the live allowlist or of the internal consumer registry is
-- recorded with who, when, before and after. Triggers record it, so a change made with psql, by the CLI or by
-- a runtime macro is recorded alike.
--
-- Who: the session setting iu_core.actor (the CLI sets it to the operator's
-- login name), else the database session user. What made the change: the
-- session setting iu_core.context ('cli route set', 'runtime/300', ...).

CREATE TABLE iu_operator_audit (
    audit_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at  timestamptz NOT NULL DEFAULT now(),        -- the changing transaction's time
    actor       text NOT NULL,                             -- iu_core.actor, else session_user
    context     text,                                      -- iu_core.context, when set
    object_type text NOT NULL CHECK (object_type IN ('route',       -- a row of iu_outbound_route
                                                     'config',      -- a row of dot_config (gate, allowlist)
                                                     'consumer')),  -- a row of iu_internal_consumer
    object_key  text NOT NULL,                             -- route_code, dot_config key, consumer_name
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    before      jsonb,                                     -- the row before (NULL for insert)
    after       jsonb                                      -- the row after (NULL for delete)
);
COMMENT ON TABLE iu_operator_audit IS
    'Append-only audit of changes to routes, the delivery gate, the live allowlist and the consumer registry.';
CREATE INDEX iu_operator_audit_object_idx ON iu_operator_audit (object_type, object_key, audit_id);

CREATE TRIGGER trg_iu_operator_audit_append_only
    BEFORE UPDATE ON iu_operator_audit
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();

-- One audit row per changed row. An UPDATE that changes nothing is not recorded.
CREATE FUNCTION fn_iu_operator_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
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

CREATE TRIGGER trg_iu_outbound_route_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();

CREATE TRIGGER trg_dot_config_audit
    AFTER INSERT OR UPDATE OR DELETE ON dot_config
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();

CREATE TRIGGER trg_iu_internal_consumer_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
