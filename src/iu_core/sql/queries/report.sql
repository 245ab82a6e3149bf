-- Named queries of the structure report (iu_core.report). Each block: a
-- "-- name --" line, then one statement with %(name)s parameters.

-- report_data --
-- The whole content of one IU's report, from one snapshot (NULL: no such IU).
SELECT public.fn_iu_structure_report_data(%(iu_id)s) AS data

-- last_event_as_of --
-- The IU's newest event at or before an instant (a report of the past).
SELECT event_id, event_seq, event_type, occurred_at
  FROM public.event_outbox
 WHERE aggregate_id = %(iu_id)s
   AND aggregate_type = 'information_unit'
   AND occurred_at <= %(as_of)s
 ORDER BY event_seq DESC
 LIMIT 1

-- reflected --
-- Code and reflected event of each IU of a batch (event_seq NULL: no report row yet).
SELECT u.iu_id, u.code, r.event_seq
  FROM public.information_unit u
  LEFT JOIN public.iu_structure_report r ON r.iu_id = u.iu_id
 WHERE u.iu_id = ANY (%(iu_ids)s::uuid[])

-- batch_events --
-- What a batch's events are about: their IU (the aggregate) and, for a
-- relation event, the IU at the other end.
SELECT event_id, event_seq, aggregate_type, aggregate_id,
       CASE WHEN payload ->> 'to_iu_id' ~ '^[0-9a-fA-F-]{36}$'
            THEN (payload ->> 'to_iu_id')::uuid END AS other_iu_id
  FROM public.event_outbox
 WHERE event_id = ANY (%(event_ids)s::uuid[])

-- upsert_report --
-- Monotonic: an existing row is rewritten only by content that reflects a
-- later event of its IU, or the same event with a different content. A
-- concurrent writer of the same IU waits on the row lock, then this WHERE is
-- evaluated against the row it committed, so an older generation never
-- overwrites a newer one. No row comes back when nothing was written.
INSERT INTO public.iu_structure_report AS r
       (iu_id, code, event_seq, event_id, digest, markdown, html, json, generated_at)
VALUES (%(iu_id)s, %(code)s, %(event_seq)s, %(event_id)s, %(digest)s, %(markdown)s, %(html)s,
        %(json)s, %(generated_at)s)
ON CONFLICT (iu_id) DO UPDATE
   SET code = excluded.code,
       event_seq = excluded.event_seq,
       event_id = excluded.event_id,
       digest = excluded.digest,
       markdown = excluded.markdown,
       html = excluded.html,
       json = excluded.json,
       generation = r.generation + 1,
       generated_at = excluded.generated_at
 WHERE excluded.event_seq > r.event_seq
    OR (excluded.event_seq = r.event_seq AND excluded.digest <> r.digest)
RETURNING generation

-- report_by_code --
SELECT r.iu_id, r.code, r.event_seq, r.event_id, r.digest, r.markdown, r.html, r.json,
       r.generation, r.generated_at
  FROM public.iu_structure_report r
  JOIN public.information_unit u ON u.iu_id = r.iu_id
 WHERE u.code = %(code)s

-- list_reports --
SELECT u.code, u.title, r.event_seq, r.event_id, r.generation, r.generated_at,
       (SELECT max(e.event_seq) FROM public.event_outbox e
         WHERE e.aggregate_id = u.iu_id AND e.aggregate_type = 'information_unit') AS latest_event_seq
  FROM public.information_unit u
  LEFT JOIN public.iu_structure_report r ON r.iu_id = u.iu_id
 ORDER BY u.code

-- units_to_build --
-- Every IU, or the one named (NULL: all), in code order.
SELECT iu_id, code
  FROM public.information_unit
 WHERE %(code)s::text IS NULL OR code = %(code)s::text
 ORDER BY code

-- route_target --
SELECT route_code, target_kind, target_ref
  FROM public.iu_outbound_route
 WHERE route_code = %(route_code)s

-- readiness --
-- Is the report's schema in this database (migration and function applied)?
SELECT to_regclass('public.iu_structure_report') IS NOT NULL AS has_table,
       to_regprocedure('public.fn_iu_structure_report_data(uuid)') IS NOT NULL AS has_function
