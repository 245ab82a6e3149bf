-- Who may run what. Applied by `iu-core db migrate` after the function files,
-- every time, so a new function is never left executable by PUBLIC.
--
-- Two roles (NOLOGIN; a deployment grants them to its login roles):
--   iu_core_worker    claims, delivers and records deliveries
--   iu_core_operator  everything the worker may, plus the gate, the allowlist,
--                     routes, credentials and dead letters
-- A role holding neither may call no IU Core function and change no delivery
-- state: it can deliver nothing and open nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'iu_core_worker') THEN
        CREATE ROLE iu_core_worker NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'iu_core_operator') THEN
        CREATE ROLE iu_core_operator NOLOGIN;
    END IF;
END
$$;

GRANT iu_core_worker TO iu_core_operator;

-- Functions: none for PUBLIC; all to the roles (the operator's are useless to
-- a worker without the table privileges below).
DO $$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' AND p.proname LIKE 'fn\_iu\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO iu_core_worker', v_fn);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO iu_core_worker;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO iu_core_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO iu_core_worker;
GRANT INSERT, UPDATE, DELETE ON iu_delivery, iu_route_attempt, iu_route_dead_letter, iu_route_decision,
                                iu_route_circuit, iu_tree_change_log
   TO iu_core_worker;
-- A route disabled by the worker (HTTP 410, failing too long) is written by the worker.
GRANT UPDATE ON iu_outbound_route TO iu_core_worker;
GRANT INSERT ON iu_operator_audit TO iu_core_worker;
-- Retention: the worker prunes finished history (never what is unfinished).
-- Operational events (a dead letter, a circuit, a disabled route; the gate,
-- for the operator) are written in the outbox by the transaction of the
-- happening, under the role that makes it.
GRANT INSERT, DELETE ON event_outbox TO iu_core_worker;

GRANT INSERT, UPDATE, DELETE ON dot_config, iu_outbound_route, iu_route_credential, iu_internal_consumer
   TO iu_core_operator;
-- Tags of units, which route filters match (tag:NAME).
GRANT INSERT, DELETE ON iu_unit_tag TO iu_core_operator;

-- What the in-transaction targets write, where their tables exist.
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['iu_vector_piece', 'iu_vector_delivery', 'iu_structure_report',
                                   'iu_retention_horizon'] LOOP
        IF pg_catalog.to_regclass('public.' || v_table) IS NOT NULL THEN
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON public.%I TO iu_core_worker', v_table);
        END IF;
    END LOOP;
END
$$;

-- The operator sets retention; nobody but the console reads its users' password hashes.
DO $$
BEGIN
    IF pg_catalog.to_regclass('public.iu_retention_setting') IS NOT NULL THEN
        GRANT INSERT, UPDATE ON public.iu_retention_setting TO iu_core_operator;
    END IF;
    IF pg_catalog.to_regclass('public.iu_console_user') IS NOT NULL THEN
        REVOKE SELECT ON public.iu_console_user FROM iu_core_worker;
    END IF;
END
$$;
