-- The vector index: one embedding per active piece and collection (pgvector).
--
-- Created only where the server offers pgvector (pg_available_extensions); on a
-- server without it this block does nothing, and every vector route fails
-- closed with "pgvector is not installed in this database". The block is
-- idempotent: `iu-core vector install` runs it again (as migration 010) once
-- pgvector has been installed on such a server.
--
-- The DDL is EXECUTEd (constant text, no input) because the type public.vector
-- does not exist when this file is parsed on a server without pgvector.

DO $vector$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'vector') THEN
        RAISE NOTICE 'pgvector is not available on this server: the vector index is not created';
        RETURN;
    END IF;

    EXECUTE 'CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public';

    EXECUTE $ddl$
    CREATE TABLE IF NOT EXISTS public.iu_vector_piece (
        collection    text NOT NULL CHECK (collection ~ '^[A-Za-z0-9._:-]{1,64}$'),
        piece_id      uuid NOT NULL REFERENCES public.iu_piece (piece_id) ON DELETE CASCADE,
        iu_id         uuid NOT NULL REFERENCES public.information_unit (iu_id) ON DELETE CASCADE,
        language      text NOT NULL CHECK (language IN ('en',    -- English
                                                        'vi')),  -- Vietnamese
        model_name    text NOT NULL,          -- the embedder's model, e.g. multilingual-e5-small-q4
        model_version text NOT NULL,          -- the engine/recipe version that produced the vector
        content_hash  text NOT NULL,          -- sha256 of the embedded text (heading path + piece text)
        heading_path  text NOT NULL,          -- "Document > Chapter II > Article 3 Booking", for display
        embedding     public.vector(384) NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (collection, piece_id)
    )
    $ddl$;
    EXECUTE $ddl$
    COMMENT ON TABLE public.iu_vector_piece IS
        'One embedding per active piece and collection, kept current by vector routes and vector reindex.'
    $ddl$;
    EXECUTE 'CREATE INDEX IF NOT EXISTS iu_vector_piece_unit_idx ON public.iu_vector_piece (collection, iu_id)';
    -- Cosine distance (<=>) on normalised vectors; HNSW answers ORDER BY ... LIMIT.
    EXECUTE 'CREATE INDEX IF NOT EXISTS iu_vector_piece_hnsw_idx ON public.iu_vector_piece '
            'USING hnsw (embedding public.vector_cosine_ops)';

    -- The deliveries a vector route applied, by idempotency key: written in the
    -- same transaction as the vectors, so a delivery applied once is skipped
    -- when it comes again.
    EXECUTE $ddl$
    CREATE TABLE IF NOT EXISTS public.iu_vector_delivery (
        idempotency_key text PRIMARY KEY,
        collection      text NOT NULL,
        event_ref       uuid NOT NULL,
        iu_id           uuid,
        embedded        integer NOT NULL,   -- pieces (re-)embedded by the sync this delivery ran in
        removed         integer NOT NULL,   -- rows removed (pieces deprecated or gone)
        applied_at      timestamptz NOT NULL DEFAULT now()
    )
    $ddl$;
END
$vector$;
