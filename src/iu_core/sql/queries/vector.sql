-- Named queries of the vector index (iu_core.vector). Tables: migration 010.

-- vector_ready --
-- Both tables of migration 010 exist (they do only where pgvector is installed).
SELECT to_regclass('public.iu_vector_piece') IS NOT NULL
   AND to_regclass('public.iu_vector_delivery') IS NOT NULL

-- vector_available --
-- The server offers pgvector (it can be installed in this database).
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'vector')

-- lock_unit_collection --
-- Serialises syncs of one IU into one collection until the transaction ends: two
-- routes feeding one collection never interleave their reads and writes, and the
-- sync that takes the lock second reads the tree the first one committed.
SELECT pg_advisory_xact_lock(hashtext(%(collection)s), hashtext(%(iu_id)s::text))

-- unit_state --
SELECT status FROM public.information_unit WHERE iu_id = %(iu_id)s

-- rows_of_unit --
SELECT piece_id, content_hash, model_name, model_version
  FROM public.iu_vector_piece
 WHERE collection = %(collection)s AND iu_id = %(iu_id)s

-- upsert_piece --
INSERT INTO public.iu_vector_piece
       (collection, piece_id, iu_id, language, model_name, model_version, content_hash,
        heading_path, embedding, updated_at)
VALUES (%(collection)s, %(piece_id)s, %(iu_id)s, %(language)s, %(model_name)s, %(model_version)s,
        %(content_hash)s, %(heading_path)s, %(embedding)s::public.vector, now())
ON CONFLICT (collection, piece_id) DO UPDATE
   SET iu_id = excluded.iu_id,
       language = excluded.language,
       model_name = excluded.model_name,
       model_version = excluded.model_version,
       content_hash = excluded.content_hash,
       heading_path = excluded.heading_path,
       embedding = excluded.embedding,
       updated_at = excluded.updated_at

-- delete_missing --
-- Rows of the IU's pieces that are no longer active (deprecated, merged away, gone).
DELETE FROM public.iu_vector_piece
 WHERE collection = %(collection)s AND iu_id = %(iu_id)s
   AND piece_id <> ALL (%(keep)s::uuid[])

-- applied_keys --
SELECT idempotency_key FROM public.iu_vector_delivery WHERE idempotency_key = ANY (%(keys)s::text[])

-- record_delivery --
INSERT INTO public.iu_vector_delivery (idempotency_key, collection, event_ref, iu_id, embedded, removed)
VALUES (%(idempotency_key)s, %(collection)s, %(event_ref)s, %(iu_id)s, %(embedded)s, %(removed)s)
ON CONFLICT (idempotency_key) DO NOTHING

-- unit_ids --
-- The IUs a reindex covers: one by code, or every IU, plus the IUs the collection
-- still holds rows of (an IU that is gone or archived leaves the collection).
SELECT u.iu_id, u.code
  FROM public.information_unit u
 WHERE %(code)s::text IS NULL OR u.code = %(code)s
UNION
SELECT DISTINCT v.iu_id, coalesce(u.code, v.iu_id::text)
  FROM public.iu_vector_piece v
  LEFT JOIN public.information_unit u ON u.iu_id = v.iu_id
 WHERE v.collection = %(collection)s AND %(code)s::text IS NULL
 ORDER BY 2

-- piece_count --
SELECT count(*) FROM public.iu_piece p
  JOIN public.information_unit u USING (iu_id)
 WHERE p.status = 'active' AND u.status = 'active' AND p.iu_id = ANY (%(iu_ids)s::uuid[])

-- collections --
-- One row per collection and model.
SELECT collection, model_name, model_version, count(*) AS pieces,
       max(public.vector_dims(embedding)) AS dims, max(updated_at) AS updated_at
  FROM public.iu_vector_piece
 GROUP BY collection, model_name, model_version
 ORDER BY collection, count(*) DESC, model_name

-- collection_units --
SELECT DISTINCT iu_id FROM public.iu_vector_piece WHERE collection = %(collection)s

-- hashes_of_collection --
SELECT piece_id, iu_id, content_hash, model_name, model_version
  FROM public.iu_vector_piece WHERE collection = %(collection)s

-- index_size --
SELECT coalesce(pg_relation_size(to_regclass('public.iu_vector_piece_hnsw_idx')), 0)

-- collection_models --
-- The models of the rows a search would read.
SELECT DISTINCT model_name
  FROM public.iu_vector_piece
 WHERE (%(collection)s::text IS NULL OR collection = %(collection)s)
   AND (%(iu_id)s::uuid IS NULL OR iu_id = %(iu_id)s)

-- search --
-- Nearest pieces by cosine distance. The inner query alone orders by distance
-- with LIMIT, so it runs on the HNSW index; the filters are applied during the
-- index scan (iterative scan, set by the caller) so a filtered search still
-- returns up to LIMIT rows.
WITH hits AS (
    SELECT v.collection, v.piece_id, v.iu_id, v.language, v.heading_path,
           v.embedding OPERATOR(public.<=>) %(query)s::public.vector AS distance
      FROM public.iu_vector_piece v
     WHERE v.model_name = %(model_name)s
       AND (%(collection)s::text IS NULL OR v.collection = %(collection)s)
       AND (%(iu_id)s::uuid IS NULL OR v.iu_id = %(iu_id)s)
       AND (%(language)s::text IS NULL OR v.language = %(language)s)
     ORDER BY v.embedding OPERATOR(public.<=>) %(query)s::public.vector
     LIMIT %(limit)s
)
SELECT h.collection, h.piece_id, u.code, p.kind, p.label, p.heading, h.heading_path,
       h.language, p.text, 1 - h.distance AS score, p.eid, p.iu_id
  FROM hits h
  JOIN public.iu_piece p ON p.piece_id = h.piece_id
  JOIN public.information_unit u ON u.iu_id = h.iu_id
 ORDER BY h.distance, h.piece_id

-- identified --
-- The indexed pieces in scope whose eid holds one of the given components
-- (lower case: art_21, chp_ii): the candidates for a provision a query names by
-- its identifier, or for the pieces under it where the provision itself is a
-- heading (not indexed on its own). The caller keeps those the citation names.
SELECT v.collection, v.piece_id, u.code, p.kind, p.label, p.heading, v.heading_path,
       v.language, p.text, 1 - (v.embedding OPERATOR(public.<=>) %(query)s::public.vector) AS score,
       p.eid, p.iu_id
  FROM public.iu_vector_piece v
  JOIN public.iu_piece p ON p.piece_id = v.piece_id
  JOIN public.information_unit u ON u.iu_id = v.iu_id
 WHERE v.model_name = %(model_name)s
   AND (%(collection)s::text IS NULL OR v.collection = %(collection)s)
   AND (%(iu_id)s::uuid IS NULL OR v.iu_id = %(iu_id)s)
   AND p.eid IS NOT NULL
   AND string_to_array(lower(p.eid), '__') OPERATOR(pg_catalog.&&) %(components)s::text[]
 ORDER BY score DESC, v.piece_id
 LIMIT 200

-- due_units --
-- The units of the next due deliveries of a route, read without locking
-- anything: their passages are embedded before the delivery's transaction
-- claims them (the claim then finds the vectors ready).
SELECT DISTINCT d.aggregate_id AS iu_id
  FROM (SELECT aggregate_id
          FROM public.iu_delivery
         WHERE route_code = %(route_code)s
           AND state IN ('pending', 'retrying')
           AND available_at <= now()
           AND aggregate_id IS NOT NULL
         ORDER BY available_at, event_seq
         LIMIT %(limit)s) d

-- vi_texts --
-- The Vietnamese texts a search's scope holds: what a plain (unaccented)
-- Vietnamese question is restored from.
SELECT p.text
  FROM public.iu_vector_piece v
  JOIN public.iu_piece p ON p.piece_id = v.piece_id
 WHERE v.language = 'vi'
   AND v.model_name = %(model_name)s
   AND (%(collection)s::text IS NULL OR v.collection = %(collection)s)
   AND (%(iu_id)s::uuid IS NULL OR v.iu_id = %(iu_id)s)

-- vi_texts_version --
-- Changes whenever the texts of vi_texts do: a restorer learnt from them is kept until then.
SELECT count(*), max(v.updated_at)
  FROM public.iu_vector_piece v
 WHERE v.language = 'vi'
   AND v.model_name = %(model_name)s
   AND (%(collection)s::text IS NULL OR v.collection = %(collection)s)
   AND (%(iu_id)s::uuid IS NULL OR v.iu_id = %(iu_id)s)
