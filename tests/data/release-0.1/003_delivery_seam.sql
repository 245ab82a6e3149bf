-- 003 — the delivery seam of record (the seam every live sql_function delivery goes through):
--   iu_internal_consumer        the registry of internal SQL consumers
--   fn_iu_structure_consumer    the internal consumer: one projection row per structure event
--   fn_iu_route_deliver         the SQL delivery primitive, fail-closed
--
-- No function here builds SQL from a route's text. A route names its consumer
-- by free text (target_ref); that text is only ever COMPARED with the
-- registry's consumer_name. What is called is the registered regprocedure,
-- whose schema and name come from pg_proc and are quoted with %I.


-- ---------------------------------------------------------------------------
-- The registry of internal consumers
-- ---------------------------------------------------------------------------
CREATE TABLE iu_internal_consumer (
    consumer_name text PRIMARY KEY                -- what a route's target_ref must equal, exactly
                  CHECK (consumer_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
    consumer      regprocedure NOT NULL UNIQUE,   -- the function called: (uuid, jsonb) -> integer
    description   text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE iu_internal_consumer IS
    'Internal SQL consumers that fn_iu_route_deliver may call for target_kind=sql_function routes. '
    'A route reaches a function only through a row here.';

-- A consumer must have the signature fn(event_ref uuid, payload jsonb) RETURNS
-- integer (rows added), so the dispatcher's call is always well-formed.
CREATE FUNCTION fn_iu_internal_consumer_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc p
         WHERE p.oid = NEW.consumer
           AND p.prokind = 'f'
           AND p.proargtypes = '2950 3802'::oidvector      -- (uuid, jsonb)
           AND p.prorettype = 'integer'::regtype
           AND NOT p.proretset) THEN
        RAISE EXCEPTION 'internal consumer % must be a function (event_ref uuid, payload jsonb) RETURNS integer',
                        NEW.consumer
            USING ERRCODE = 'IU005';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER trg_iu_internal_consumer_check
    BEFORE INSERT OR UPDATE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_internal_consumer_check();


-- ---------------------------------------------------------------------------
-- The internal consumer: structure events -> iu_tree_change_log
-- ---------------------------------------------------------------------------
-- Validates the payload of a structure event and inserts its projection row.
-- Idempotent: ON CONFLICT (event_ref) DO NOTHING, so re-delivering an event
-- adds nothing. Returns the number of rows added (1 the first time, then 0).
-- Writes iu_tree_change_log and nothing else; a malformed payload raises IU006
-- before anything is written.
CREATE FUNCTION fn_iu_structure_consumer(event_ref uuid, payload jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
#variable_conflict use_variable
DECLARE
    c_uuid constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
    v_event_type text;
    v_problem    text;
    v_added      integer;
BEGIN
    -- Which structure event this is: the payload says so; else the outbox row.
    IF jsonb_typeof(payload) = 'object' THEN
        v_event_type := coalesce(
            payload ->> 'event_type',
            (SELECT o.event_type FROM public.event_outbox o WHERE o.event_id = event_ref));
    END IF;

    v_problem := CASE
        WHEN event_ref IS NULL THEN 'event_ref is null'
        WHEN jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN 'payload is not a JSON object'
        WHEN v_event_type IS NULL THEN 'event_type is missing'
        WHEN v_event_type NOT IN ('structure_op_applied', 'structure_piece_deprecated')
            THEN format('event_type %L is not a structure event', v_event_type)
        WHEN jsonb_typeof(payload -> 'iu_id') IS DISTINCT FROM 'string'
             OR NOT (payload ->> 'iu_id') ~ c_uuid THEN 'iu_id is missing or not a uuid'
        WHEN jsonb_typeof(payload -> 'operation_id') IS DISTINCT FROM 'string'
             OR NOT (payload ->> 'operation_id') ~ c_uuid THEN 'operation_id is missing or not a uuid'
        WHEN jsonb_typeof(payload -> 'operation_type') IS DISTINCT FROM 'string'
             OR btrim(payload ->> 'operation_type') = '' THEN 'operation_type is missing or empty'
        WHEN v_event_type = 'structure_piece_deprecated'
             AND (jsonb_typeof(payload -> 'piece_id') IS DISTINCT FROM 'string'
                  OR NOT (payload ->> 'piece_id') ~ c_uuid) THEN 'piece_id is missing or not a uuid'
        WHEN payload ? 'piece_id' AND payload -> 'piece_id' <> 'null'::jsonb
             AND (jsonb_typeof(payload -> 'piece_id') IS DISTINCT FROM 'string'
                  OR NOT (payload ->> 'piece_id') ~ c_uuid) THEN 'piece_id is not a uuid'
    END;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'malformed structure event %: %', coalesce(event_ref::text, '(null)'), v_problem
            USING ERRCODE = 'IU006';
    END IF;

    INSERT INTO public.iu_tree_change_log
           (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
    VALUES (event_ref,
            v_event_type,
            (payload ->> 'iu_id')::uuid,
            (payload ->> 'operation_id')::uuid,
            payload ->> 'operation_type',
            (payload ->> 'piece_id')::uuid,           -- NULL unless a piece was deprecated
            'fn_iu_structure_consumer')
    ON CONFLICT ON CONSTRAINT iu_tree_change_log_event_ref_key DO NOTHING;  -- re-delivery: +0
    GET DIAGNOSTICS v_added = ROW_COUNT;
    RETURN v_added;
END
$$;
COMMENT ON FUNCTION fn_iu_structure_consumer(uuid, jsonb) IS
    'Internal consumer: projects one structure event into iu_tree_change_log (idempotent). Returns rows added.';

INSERT INTO iu_internal_consumer (consumer_name, consumer, description) VALUES
    ('fn_iu_structure_consumer', 'fn_iu_structure_consumer(uuid, jsonb)'::regprocedure,
     'Projects structure_op_applied / structure_piece_deprecated events into iu_tree_change_log.');


-- ---------------------------------------------------------------------------
-- The SQL delivery primitive
-- ---------------------------------------------------------------------------
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
CREATE FUNCTION fn_iu_route_deliver(p_route_code text, p_event_ref uuid, p_payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_route    public.iu_outbound_route%ROWTYPE;
    v_gate     jsonb;
    v_allow    jsonb;
    v_name     text;
    v_consumer regprocedure;
    v_schema   name;
    v_function name;
    v_added    integer;
BEGIN
    -- This runs once per delivered event (the worker's hot path), so the gate
    -- and the allowlist are read in one statement here rather than through
    -- fn_iu_delivery_gate_open / fn_iu_route_allowlisted; same meaning: the
    -- gate is open only on JSON true, anything but an array allows nothing.
    SELECT (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_enabled'),
           (SELECT c.value FROM public.dot_config c WHERE c.key = 'iu_core.delivery_live_routes')
      INTO v_gate, v_allow;

    IF v_gate IS DISTINCT FROM 'true'::jsonb THEN
        RAISE EXCEPTION 'delivery refused for route %: the delivery gate is closed', p_route_code
            USING ERRCODE = 'IU001', HINT = 'open the gate first (iu-core gate open)';
    END IF;

    SELECT * INTO v_route FROM public.iu_outbound_route r WHERE r.route_code = p_route_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery refused: unknown route %', coalesce(quote_literal(p_route_code), '(null)')
            USING ERRCODE = 'IU004';
    END IF;

    IF NOT v_route.enabled THEN
        RAISE EXCEPTION 'delivery refused for route %: the route is disabled (%)',
                        p_route_code, coalesce(v_route.disabled_reason, 'no reason given')
            USING ERRCODE = 'IU008';
    END IF;

    IF NOT (jsonb_typeof(v_allow) = 'array' AND v_allow @> jsonb_build_array(p_route_code)) THEN
        RAISE EXCEPTION 'delivery refused for route %: it is not on the live allowlist', p_route_code
            USING ERRCODE = 'IU002', HINT = 'iu-core allowlist add ROUTE';
    END IF;

    IF v_route.dry_run THEN
        RAISE EXCEPTION 'delivery refused for route %: the route is still dry-run', p_route_code
            USING ERRCODE = 'IU003', HINT = 'iu-core route set ROUTE --live';
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
        -- EXECUTE would parse and plan the call again for every event.
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
