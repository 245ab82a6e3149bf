CREATE OR REPLACE FUNCTION fn_iu_refuse_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: UPDATE is refused', TG_TABLE_NAME
        USING ERRCODE = 'IU007';
END
$$;
