-- Route filters: does an event pass a route's filter? Evaluated by the fan-out
-- trigger (delivery_fan_out.sql) for routes that have one, and by backfill.
--
-- The filter is the JSON tree `iu-core route add/set --filter` compiled
-- (iu_core.ops.filters), never text to run: every term's value is a LIKE
-- pattern the compiler escaped (its * became %, its ? became _), compared with
-- LIKE as a value. Nodes:
--   {"and": [node, ...]}  {"or": [node, ...]}  {"not": node}
--   {"iu":   pattern}  the unit's code: payload code, else the unit of aggregate_id
--   {"tag":  pattern}  a tag of the unit (iu_unit_tag)
--   {"lang": pattern}  payload language, else the unit's language
--   {"kind": pattern}  payload kind, or the kind of any piece in payload pieces
--   {"eid":  pattern}  payload eid, any of payload eids, any value of previous_eids
--   {"op":   pattern}  payload operation_type
-- An unknown or malformed node matches nothing, and never raises (fail closed:
-- a filter this code cannot read delivers nothing rather than everything, and
-- never stops the event's own transaction).
--
-- Cost: the fan-out reads an event's unit code, language and tags ONCE and
-- passes them in (p_code, p_language, p_tags), so a route's filter is only
-- expressions over its arguments: no query runs per route, except for a
-- kind: term (the kinds of the event's pieces).
CREATE OR REPLACE FUNCTION fn_iu_route_filter_match(
    p_filter       jsonb,
    p_aggregate_id uuid,
    p_payload      jsonb,
    p_code         text,    -- the unit's code (payload code first)
    p_language     text,    -- the unit's language (payload language first)
    p_tags         text[]   -- the unit's tags
) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_nodes   jsonb;
    v_pattern text;
    v_values  jsonb;
    v_tag     text;
    i         integer;
BEGIN
    IF p_filter IS NULL THEN
        RETURN true;  -- no filter: every event of the route's type
    ELSIF jsonb_typeof(p_filter) <> 'object' THEN
        RETURN false;  -- not a node (a tree written by hand): matches nothing
    ELSIF p_filter ? 'and' THEN
        v_nodes := p_filter -> 'and';
        IF jsonb_typeof(v_nodes) <> 'array' THEN
            RETURN false;
        END IF;
        FOR i IN 0 .. jsonb_array_length(v_nodes) - 1 LOOP
            IF NOT public.fn_iu_route_filter_match(v_nodes -> i, p_aggregate_id, p_payload,
                                                   p_code, p_language, p_tags) THEN
                RETURN false;  -- the first refusal decides
            END IF;
        END LOOP;
        RETURN true;
    ELSIF p_filter ? 'or' THEN
        v_nodes := p_filter -> 'or';
        IF jsonb_typeof(v_nodes) <> 'array' THEN
            RETURN false;
        END IF;
        FOR i IN 0 .. jsonb_array_length(v_nodes) - 1 LOOP
            IF public.fn_iu_route_filter_match(v_nodes -> i, p_aggregate_id, p_payload,
                                               p_code, p_language, p_tags) THEN
                RETURN true;  -- the first match decides
            END IF;
        END LOOP;
        RETURN false;
    ELSIF p_filter ? 'not' THEN
        RETURN NOT public.fn_iu_route_filter_match(p_filter -> 'not', p_aggregate_id, p_payload,
                                                   p_code, p_language, p_tags);
    ELSIF p_filter ? 'iu' THEN
        RETURN coalesce(p_code LIKE (p_filter ->> 'iu'), false);
    ELSIF p_filter ? 'tag' THEN
        v_pattern := p_filter ->> 'tag';
        FOREACH v_tag IN ARRAY coalesce(p_tags, '{}'::text[]) LOOP
            IF v_tag LIKE v_pattern THEN
                RETURN true;
            END IF;
        END LOOP;
        RETURN false;
    ELSIF p_filter ? 'lang' THEN
        RETURN coalesce(p_language LIKE (p_filter ->> 'lang'), false);
    ELSIF p_filter ? 'op' THEN
        RETURN coalesce((p_payload ->> 'operation_type') LIKE (p_filter ->> 'op'), false);
    ELSIF p_filter ? 'eid' THEN
        v_pattern := p_filter ->> 'eid';
        IF coalesce((p_payload ->> 'eid') LIKE v_pattern, false) THEN
            RETURN true;
        END IF;
        v_values := CASE WHEN jsonb_typeof(p_payload -> 'eids') = 'array'
                         THEN p_payload -> 'eids' ELSE '[]'::jsonb END
                 || CASE WHEN jsonb_typeof(p_payload -> 'previous_eids') = 'object'
                         THEN jsonb_path_query_array(p_payload -> 'previous_eids', '$.*')
                         ELSE '[]'::jsonb END;
        FOR i IN 0 .. jsonb_array_length(v_values) - 1 LOOP
            IF (v_values ->> i) LIKE v_pattern THEN
                RETURN true;
            END IF;
        END LOOP;
        RETURN false;
    ELSIF p_filter ? 'kind' THEN
        v_pattern := p_filter ->> 'kind';
        IF coalesce((p_payload ->> 'kind') LIKE v_pattern, false) THEN
            RETURN true;
        END IF;
        RETURN jsonb_typeof(p_payload -> 'pieces') = 'array'
           AND EXISTS (SELECT 1 FROM public.iu_piece p
                        WHERE p.piece_id IN (SELECT x::uuid
                                               FROM jsonb_array_elements_text(p_payload -> 'pieces') AS x
                                              WHERE x ~ '^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$')
                          AND p.kind LIKE v_pattern);
    END IF;
    RETURN false;
END
$$;

-- The same, reading the unit's code, language and tags itself (backfill, one
-- event at a time; and anyone asking about one event).
CREATE OR REPLACE FUNCTION fn_iu_route_filter_match(
    p_filter       jsonb,
    p_aggregate_id uuid,
    p_payload      jsonb
) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_filter IS NULL
        OR public.fn_iu_route_filter_match(
               p_filter, p_aggregate_id, p_payload,
               coalesce(p_payload ->> 'code', u.code),
               coalesce(p_payload ->> 'language', u.language),
               ARRAY(SELECT t.tag FROM public.iu_unit_tag t WHERE t.iu_id = p_aggregate_id))
      FROM (SELECT) AS one
      LEFT JOIN public.information_unit u ON u.iu_id = p_aggregate_id
$$;
