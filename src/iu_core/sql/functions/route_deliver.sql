-- Checks, in this order, each refusal with its own SQLSTATE:
--   IU001  the delivery gate is closed
--   IU004  the route is unknown
--   IU008  the route is disabled
--   IU002  the route is not on the live allowlist
--   IU003  the route is still dry-run
--   0A000  the route's target kind is not sql_function (the Python worker
--          delivers those kinds, behind the same checks)
--   IU005  the route's target_ref is not a registered internal consumer
-- then calls the registered consumer and returns
--   {"status":"sent","delivered":true,"target_kind":"sql_function",
--    "detail":{"consumer":<name>,"rows_added":0|1}}
-- A refusal raises, so the caller's transaction writes nothing.
CREATE OR REPLACE FUNCTION fn_iu_route_deliver(p_route_code text, p_event_ref uuid, p_payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_refusal  record;
    v_name     text;
    v_consumer regprocedure;
    v_schema   name;
    v_function name;
    v_added    integer;
BEGIN
    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        v_route.route_code := NULL;
    END IF;
    -- The one answer to "may this route deliver now"; an open circuit is the
    -- worker's pacing, not a refusal of the seam.
    SELECT * INTO v_refusal FROM public.fn_iu_route_refusal(v_route) f;
    IF v_refusal.reason IS NOT NULL AND v_refusal.reason <> 'circuit_open' THEN
        RAISE EXCEPTION USING
            MESSAGE = 'delivery refused: ' || CASE WHEN v_refusal.reason = 'unknown_route'
                                                   THEN 'unknown route ' || coalesce(quote_literal(p_route_code), '(null)')
                                                   ELSE v_refusal.message END,
            ERRCODE = v_refusal.sqlstate,
            HINT = v_refusal.hint;
    END IF;

    IF v_route.target_kind <> 'sql_function' THEN
        RAISE EXCEPTION 'delivery refused for route %: target kind % is not deliverable from SQL',
                        p_route_code, v_route.target_kind
            USING ERRCODE = 'feature_not_supported',     -- 0A000
                  HINT = 'the worker delivers this kind (iu-core worker)';
    END IF;

    -- target_ref is compared with the registry, never executed or parsed.
    SELECT c.consumer_name, c.consumer INTO v_name, v_consumer
      FROM public.iu_internal_consumer c
     WHERE c.consumer_name = v_route.target_ref;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery refused for route %: % is not a registered internal consumer',
                        p_route_code, quote_literal(v_route.target_ref)
            USING ERRCODE = 'IU005';
    END IF;

    IF v_consumer = 'public.fn_iu_structure_consumer(uuid, jsonb)'::regprocedure THEN
        -- The built-in consumer is called statically: its plan is cached, where
        -- EXECUTE would parse and plan the call again for every event. It is
        -- the set-based fn_iu_structure_consume for one event.
        v_added := public.fn_iu_structure_consumer(p_event_ref, p_payload);
    ELSE
        -- Any other registered consumer: schema and name come from pg_proc
        -- (the registered oid, signature re-checked), quoted by %I.
        SELECT n.nspname, p.proname INTO v_schema, v_function
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE p.oid = v_consumer
           AND p.proargtypes = '2950 3802'::oidvector
           AND p.prorettype = 'integer'::regtype;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'delivery refused for route %: consumer % no longer has the signature (uuid, jsonb) -> integer',
                            p_route_code, quote_literal(v_name)
                USING ERRCODE = 'IU005';
        END IF;
        EXECUTE format('SELECT %I.%I($1, $2)', v_schema, v_function)
           INTO v_added
          USING p_event_ref, p_payload;
    END IF;

    RETURN jsonb_build_object(
        'status', 'sent',
        'delivered', true,
        'target_kind', 'sql_function',
        'detail', jsonb_build_object('consumer', v_name, 'rows_added', coalesce(v_added, 0)));
END
$$;

COMMENT ON FUNCTION fn_iu_route_deliver(text, uuid, jsonb) IS
    'The SQL delivery primitive (seam of record): fail-closed checks, then the registered internal consumer.';
