-- Everything a structure report shows about one IU, read in ONE statement so
-- that it comes from one snapshot: the tree, the journal, the relations, the citations and
-- the IU's newest event agree with each other even while editors work (the
-- worker's transaction is READ COMMITTED: separate statements could each see
-- a different committed state).
--
-- last_event is the IU's own newest event. Events of one IU are written while
-- its row is locked (structure operations, relations from it, ingest), so
-- when event N of the IU is visible, all its earlier events are committed
-- and visible too: the report reflects exactly the IU's events up to N.
--
-- Piece texts are left out (only their length); a reingest's previous texts
-- are reduced to the ids of the changed pieces.
CREATE OR REPLACE FUNCTION public.fn_iu_structure_report_data(p_iu_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'unit', jsonb_build_object(
        'iu_id', u.iu_id, 'code', u.code, 'title', u.title, 'status', u.status,
        'created_at', u.created_at, 'updated_at', u.updated_at),
    'last_event', (
        SELECT jsonb_build_object('event_id', e.event_id, 'event_seq', e.event_seq,
                                  'event_type', e.event_type, 'occurred_at', e.occurred_at)
          FROM public.event_outbox e
         WHERE e.aggregate_id = u.iu_id
           AND e.aggregate_type = 'information_unit'
         ORDER BY e.event_seq DESC
         LIMIT 1),
    'pieces', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'piece_id', p.piece_id, 'parent_piece_id', p.parent_piece_id,
                   'position', p.position, 'kind', p.kind, 'label', p.label,
                   'heading', p.heading, 'status', p.status, 'chars', length(p.text), 'eid', p.eid,
                   'created_by', p.created_by, 'deprecated_by', p.deprecated_by, 'source', p.source)
                   ORDER BY p.parent_piece_id NULLS FIRST, p.position, p.created_at, p.piece_id)
          FROM public.iu_piece p
         WHERE p.iu_id = u.iu_id), '[]'::jsonb),
    'operations', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'operation_id', o.operation_id, 'operation_seq', o.operation_seq,
                   'operation_type', o.operation_type, 'actor', o.actor,
                   'applied_at', o.applied_at,
                   'parameters', CASE WHEN o.parameters ? 'changed'
                                      THEN (o.parameters - 'changed') || jsonb_build_object(
                                               'changed', coalesce((
                                                   SELECT jsonb_agg(c -> 'piece_id')
                                                     FROM jsonb_array_elements(o.parameters -> 'changed') c),
                                                   '[]'::jsonb))
                                      ELSE o.parameters END)
                   ORDER BY o.operation_seq)
          FROM public.iu_structure_operation o
         WHERE o.iu_id = u.iu_id), '[]'::jsonb),
    'relations_out', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'relation_type', r.relation_type, 'iu_id', t.iu_id, 'code', t.code,
                   'title', t.title, 'actor', r.actor, 'created_at', r.created_at)
                   ORDER BY r.relation_type, t.code)
          FROM public.iu_relation r
          JOIN public.information_unit t ON t.iu_id = r.to_iu_id
         WHERE r.from_iu_id = u.iu_id), '[]'::jsonb),
    'relations_in', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'relation_type', r.relation_type, 'iu_id', f.iu_id, 'code', f.code,
                   'title', f.title, 'actor', r.actor, 'created_at', r.created_at)
                   ORDER BY r.relation_type, f.code)
          FROM public.iu_relation r
          JOIN public.information_unit f ON f.iu_id = r.from_iu_id
         WHERE r.to_iu_id = u.iu_id), '[]'::jsonb),
    -- the references written in the unit's active pieces, and those of other
    -- units that resolve to one of its pieces (iu_citation)
    'citations_out', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'from_eid', p.eid, 'text', c.matched_text, 'code', t.code,
                   'eid', coalesce(c.to_eid, c.cited_eid), 'unresolved', c.unresolved)
                   ORDER BY p.eid COLLATE "C", c.seq)
          FROM public.iu_citation c
          JOIN public.iu_piece p ON p.piece_id = c.piece_id
          LEFT JOIN public.information_unit t ON t.iu_id = c.to_iu_id
         WHERE c.iu_id = u.iu_id), '[]'::jsonb),
    'citations_in', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'from_eid', p.eid, 'text', c.matched_text, 'code', f.code,
                   'eid', c.to_eid, 'unresolved', c.unresolved)
                   ORDER BY f.code, p.eid COLLATE "C", c.seq)
          FROM public.iu_citation c
          JOIN public.iu_piece p ON p.piece_id = c.piece_id
          JOIN public.information_unit f ON f.iu_id = c.iu_id
         WHERE c.to_iu_id = u.iu_id AND c.iu_id <> u.iu_id), '[]'::jsonb))
  FROM public.information_unit u
 WHERE u.iu_id = p_iu_id
$$;
