-- The registry of internal SQL consumers. A route of kind sql_function names
-- its consumer by free text (target_ref); that text is only ever COMPARED with
-- consumer_name. What is called is the registered regprocedure, whose schema
-- and name come from pg_proc and are quoted with %I. The built-in consumer is
-- registered in wiring.sql, once its function exists.

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
