-- Route filters: does an event pass a route's filter? Evaluated by the fan-out
-- trigger (delivery_fan_out.sql) for routes that have one, and by backfill.
--
-- The filter is the JSON tree `iu-core route add/set --filter` compiled
-- (iu_core.ops.filters), never text to run: every operator's value is a LIKE
-- pattern the compiler escaped (its * became %, its ? became _), compared with
-- LIKE as a value. Nodes:
--   {"and": [node, ...]}  {"or": [node, ...]}  {"not": node}
--   {"iu":   pattern}  the unit's code: payload code, else the unit of aggregate_id
--   {"tag":  pattern}  a tag of the unit (iu_unit_tag)
--   {"lang": pattern}  payload language, else the unit's language
--   {"kind": pattern}  payload kind, or the kind of any piece in payload pieces
--   {"eid":  pattern}  payload eid, any of payload eids, any value of previous_eids
--   {"op":   pattern}  payload operation_type
-- An unknown node matches nothing (fail closed: a filter this code cannot read
-- delivers nothing rather than everything).
CREATE OR REPLACE FUNCTION fn_iu_route_filter_match(
    p_filter       jsonb,
    p_aggregate_id uuid,
    p_payload      jsonb
) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key     text;
    v_arg     jsonb;
    v_pattern text;
    v_node    jsonb;
BEGIN
    IF p_filter IS NULL THEN
        RETURN true;  -- no filter: every event of the route's type
    END IF;
    SELECT k, v INTO v_key, v_arg FROM jsonb_each(p_filter) AS e(k, v) LIMIT 1;
    IF v_key = 'and' THEN
        FOR v_node IN SELECT jsonb_array_elements(v_arg) LOOP
            IF NOT public.fn_iu_route_filter_match(v_node, p_aggregate_id, p_payload) THEN
                RETURN false;  -- the first refusal decides
            END IF;
        END LOOP;
        RETURN true;
    ELSIF v_key = 'or' THEN
        FOR v_node IN SELECT jsonb_array_elements(v_arg) LOOP
            IF public.fn_iu_route_filter_match(v_node, p_aggregate_id, p_payload) THEN
                RETURN true;  -- the first match decides
            END IF;
        END LOOP;
        RETURN false;
    ELSIF v_key = 'not' THEN
        RETURN NOT public.fn_iu_route_filter_match(v_arg, p_aggregate_id, p_payload);
    END IF;
    v_pattern := v_arg #>> '{}';
    IF v_pattern IS NULL OR jsonb_typeof(v_arg) <> 'string' THEN
        RETURN false;
    END IF;
    CASE v_key
    WHEN 'iu' THEN
        RETURN coalesce(coalesce(p_payload ->> 'code',
                                 (SELECT u.code FROM public.information_unit u
                                   WHERE u.iu_id = p_aggregate_id)) LIKE v_pattern, false);
    WHEN 'tag' THEN
        RETURN EXISTS (SELECT 1 FROM public.iu_unit_tag t
                        WHERE t.iu_id = p_aggregate_id AND t.tag LIKE v_pattern);
    WHEN 'lang' THEN
        RETURN coalesce(coalesce(p_payload ->> 'language',
                                 (SELECT u.language FROM public.information_unit u
                                   WHERE u.iu_id = p_aggregate_id)) LIKE v_pattern, false);
    WHEN 'kind' THEN
        RETURN coalesce(p_payload ->> 'kind' LIKE v_pattern, false)
            OR (jsonb_typeof(p_payload -> 'pieces') = 'array'
                AND EXISTS (SELECT 1 FROM public.iu_piece p
                             WHERE p.piece_id IN (SELECT x::uuid
                                                    FROM jsonb_array_elements_text(p_payload -> 'pieces') AS x
                                                   WHERE x ~ '^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$')
                               AND p.kind LIKE v_pattern));
    WHEN 'eid' THEN
        RETURN coalesce(p_payload ->> 'eid' LIKE v_pattern, false)
            OR (jsonb_typeof(p_payload -> 'eids') = 'array'
                AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(p_payload -> 'eids') AS x
                             WHERE x LIKE v_pattern))
            OR (jsonb_typeof(p_payload -> 'previous_eids') = 'object'
                AND EXISTS (SELECT 1 FROM jsonb_each_text(p_payload -> 'previous_eids') AS e(k, v)
                             WHERE e.v LIKE v_pattern));
    WHEN 'op' THEN
        RETURN coalesce(p_payload ->> 'operation_type' LIKE v_pattern, false);
    ELSE
        RETURN false;
    END CASE;
END
$$;
