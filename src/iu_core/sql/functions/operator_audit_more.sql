-- The rest of the one operator audit: who acts, changes that are not one row
-- of one table (a credential rotated, dead letters replayed or discarded, a
-- backfill), and the triggers that record retention settings, dead letters
-- and unit tags whoever changes them (the CLI, the console, psql).

-- Who acts: the transaction's iu_core.actor (the CLI's --actor / IU_CORE_ACTOR,
-- the console user, a runtime macro's actor); else 'iu-core worker' for the
-- worker's own connections (application_name 'iu-core worker…': it disables a
-- route that answered HTTP 410); else the database session user.
CREATE OR REPLACE FUNCTION fn_iu_operator_actor() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('iu_core.actor', true), ''),
                    CASE WHEN current_setting('application_name', true) LIKE 'iu-core worker%'
                         THEN 'iu-core worker' END,
                    session_user::text)
$$;

-- What made the change: the transaction's iu_core.context (the command, the
-- console action, the macro), else 'iu-core worker' on the worker's connections.
CREATE OR REPLACE FUNCTION fn_iu_operator_context() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('iu_core.context', true), ''),
                    CASE WHEN current_setting('application_name', true) LIKE 'iu-core worker%'
                         THEN 'iu-core worker' END)
$$;

-- One audit row for a change that is not a row of an audited table.
CREATE OR REPLACE FUNCTION fn_iu_operator_audit_note(
    p_object_type text,
    p_object_key  text,
    p_action      text,
    p_before      jsonb,
    p_after       jsonb
) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO public.iu_operator_audit (actor, context, object_type, object_key, action, before, after)
    VALUES (public.fn_iu_operator_actor(), public.fn_iu_operator_context(),
            p_object_type, p_object_key, p_action, p_before, p_after)
    RETURNING audit_id
$$;

-- Dead letters leaving 'open' in one statement (a replay or a discard, from
-- fn_iu_worker_replay / fn_iu_worker_discard or by hand) are ONE audit row per
-- new status: how many, which routes (object_key: the route, or the routes
-- joined by ', '), the reason, and the first 1000 ids.
CREATE OR REPLACE FUNCTION fn_iu_dead_letter_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row record;
BEGIN
    FOR v_row IN
        SELECT n.status,
               count(*) AS n,
               string_agg(DISTINCT n.route_code, ', ' ORDER BY n.route_code) AS routes,
               jsonb_agg(DISTINCT n.route_code) AS route_list,
               (array_agg(n.dead_letter_id ORDER BY n.dead_letter_id))[1:1000] AS ids,
               min(n.resolution_note) AS reason,
               min(n.resolved_by) AS resolved_by
          FROM new_rows n
          JOIN old_rows o ON o.dead_letter_id = n.dead_letter_id
         WHERE o.status = 'open' AND n.status IN ('replayed', 'discarded')
         GROUP BY n.status
    LOOP
        PERFORM public.fn_iu_operator_audit_note(
            'dead_letter',
            v_row.routes,
            CASE v_row.status WHEN 'replayed' THEN 'replay' ELSE 'discard' END,
            jsonb_build_object('status', 'open'),
            jsonb_build_object('status', v_row.status, 'count', v_row.n, 'reason', v_row.reason,
                               'resolved_by', v_row.resolved_by, 'routes', v_row.route_list,
                               'dead_letter_ids', to_jsonb(v_row.ids)));
    END LOOP;
    RETURN NULL;
END
$$;

-- The triggers of this file, (re)created with it (the tables come from the
-- migrations, which run before the function files on every path).
CREATE OR REPLACE TRIGGER trg_iu_retention_setting_audit
    AFTER INSERT OR UPDATE OR DELETE ON public.iu_retention_setting
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
CREATE OR REPLACE TRIGGER trg_iu_route_dead_letter_audit
    AFTER UPDATE ON public.iu_route_dead_letter
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_dead_letter_audit();
CREATE OR REPLACE TRIGGER trg_iu_unit_tag_audit
    AFTER INSERT OR UPDATE OR DELETE ON public.iu_unit_tag
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
