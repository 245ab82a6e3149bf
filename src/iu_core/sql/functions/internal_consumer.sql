-- A consumer must have the signature fn(event_ref uuid, payload jsonb) RETURNS
-- integer (rows added), so the dispatcher's call is always well-formed.
CREATE OR REPLACE FUNCTION fn_iu_internal_consumer_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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

-- What is wrong with a structure event (NULL: nothing, it may be projected).
-- event_type is the event's type as the payload states it, else as its
-- outbox row does. The one judgement of a structure event, asked for each
-- event of a set by fn_iu_structure_consume below. PL/pgSQL with a
-- single expression: evaluated on the fast path, no executor start per call.
CREATE OR REPLACE FUNCTION fn_iu_structure_problem(p_event_ref uuid, p_event_type text, p_payload jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A uuid in its canonical text form (8-4-4-4-12 hex digits), which is what
    -- '^[0-9a-fA-F]{8}-...-[0-9a-fA-F]{12}$' accepts, checked without a regex
    -- (a regex match costs ~5 µs, three per event): 36 bytes with the four
    -- hyphens in place leave 32 characters, and uuid input accepts them only
    -- if all 32 are hex digits (no braces, no other hyphens fit).
    v_iu  text := p_payload ->> 'iu_id';
    v_op  text := p_payload ->> 'operation_id';
    v_pc  text := p_payload ->> 'piece_id';
    v_iu_ok boolean := octet_length(v_iu) = 36 AND pg_input_is_valid(v_iu, 'uuid')
                       AND substr(v_iu, 9, 1) || substr(v_iu, 14, 1) || substr(v_iu, 19, 1) || substr(v_iu, 24, 1) = '----';
    v_op_ok boolean := octet_length(v_op) = 36 AND pg_input_is_valid(v_op, 'uuid')
                       AND substr(v_op, 9, 1) || substr(v_op, 14, 1) || substr(v_op, 19, 1) || substr(v_op, 24, 1) = '----';
    v_pc_ok boolean := octet_length(v_pc) = 36 AND pg_input_is_valid(v_pc, 'uuid')
                       AND substr(v_pc, 9, 1) || substr(v_pc, 14, 1) || substr(v_pc, 19, 1) || substr(v_pc, 24, 1) = '----';
BEGIN
    RETURN CASE
        WHEN p_event_ref IS NULL THEN 'event_ref is null'
        WHEN jsonb_typeof(p_payload) IS DISTINCT FROM 'object' THEN 'payload is not a JSON object'
        WHEN p_event_type IS NULL THEN 'event_type is missing'
        WHEN p_event_type NOT IN ('structure_op_applied', 'structure_piece_deprecated')
            THEN format('event_type %L is not a structure event', p_event_type)
        WHEN jsonb_typeof(p_payload -> 'iu_id') IS DISTINCT FROM 'string'
             OR NOT v_iu_ok THEN 'iu_id is missing or not a uuid'
        WHEN jsonb_typeof(p_payload -> 'operation_id') IS DISTINCT FROM 'string'
             OR NOT v_op_ok THEN 'operation_id is missing or not a uuid'
        WHEN jsonb_typeof(p_payload -> 'operation_type') IS DISTINCT FROM 'string'
             OR btrim(p_payload ->> 'operation_type') = '' THEN 'operation_type is missing or empty'
        WHEN p_event_type = 'structure_piece_deprecated'
             AND (jsonb_typeof(p_payload -> 'piece_id') IS DISTINCT FROM 'string' OR NOT v_pc_ok)
            THEN 'piece_id is missing or not a uuid'
        WHEN p_payload ? 'piece_id' AND p_payload -> 'piece_id' <> 'null'::jsonb
             AND (jsonb_typeof(p_payload -> 'piece_id') IS DISTINCT FROM 'string' OR NOT v_pc_ok)
            THEN 'piece_id is not a uuid'
    END;
END
$$;

-- The built-in consumer, set-based: judges every event of the set (its type
-- as its payload states it, else as its outbox row does), then inserts their
-- projection rows in the given order, in one statement. Idempotent: ON
-- CONFLICT (event_ref) DO NOTHING, so re-delivering an event adds nothing.
-- Returns the events whose row was added. Writes iu_tree_change_log and
-- nothing else; a malformed event raises IU006 (naming the first) before
-- anything is written. The worker's batch calls it for a whole batch, the
-- registered consumer below (and through it the seam) for one event.
--
-- The judging is a loop of plain expressions, not a statement: for the seam's
-- one event a statement would cost as much again as the insert, and for a
-- batch the judgement (fn_iu_structure_problem) is the work either way.
CREATE OR REPLACE FUNCTION fn_iu_structure_consume(p_event_refs uuid[], p_payloads jsonb[])
RETURNS uuid[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_types   text[] := '{}';
    v_type    text;
    v_problem text;
    v_added   uuid[];
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_event_refs), 0) LOOP
        v_type := NULL;
        IF jsonb_typeof(p_payloads[i]) = 'object' THEN
            v_type := p_payloads[i] ->> 'event_type';
            IF v_type IS NULL THEN  -- the payload is silent: the outbox row says
                SELECT o.event_type INTO v_type FROM public.event_outbox o WHERE o.event_id = p_event_refs[i];
            END IF;
        END IF;
        v_problem := public.fn_iu_structure_problem(p_event_refs[i], v_type, p_payloads[i]);
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION 'malformed structure event %: %', coalesce(p_event_refs[i]::text, '(null)'), v_problem
                USING ERRCODE = 'IU006';
        END IF;
        v_types := array_append(v_types, v_type);
    END LOOP;

    WITH ins AS (
        INSERT INTO public.iu_tree_change_log
               (event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by)
        SELECT u.event_ref, u.event_type, (u.payload ->> 'iu_id')::uuid, (u.payload ->> 'operation_id')::uuid,
               u.payload ->> 'operation_type',
               (u.payload ->> 'piece_id')::uuid,           -- NULL unless a piece was deprecated
               'fn_iu_structure_consumer'
          FROM unnest(p_event_refs, p_payloads, v_types) WITH ORDINALITY AS u(event_ref, payload, event_type, ord)
         ORDER BY u.ord
        ON CONFLICT ON CONSTRAINT iu_tree_change_log_event_ref_key DO NOTHING  -- re-delivery: +0
        RETURNING event_ref
    )
    SELECT coalesce(array_agg(ins.event_ref), '{}') INTO v_added FROM ins;
    RETURN v_added;
END
$$;

-- The registered internal consumer (uuid, jsonb) -> integer: one event through
-- fn_iu_structure_consume. Returns the number of rows added (1 the first
-- time, then 0); a malformed payload raises IU006 before anything is written.
CREATE OR REPLACE FUNCTION fn_iu_structure_consumer(event_ref uuid, payload jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN cardinality(public.fn_iu_structure_consume(ARRAY[event_ref], ARRAY[payload]));
END
$$;

COMMENT ON FUNCTION fn_iu_structure_consumer(uuid, jsonb) IS
    'Internal consumer: projects one structure event into iu_tree_change_log (idempotent). Returns rows added.';
