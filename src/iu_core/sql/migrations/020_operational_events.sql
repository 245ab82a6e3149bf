-- 020 — the delivery gate's changes become events (iu_gate_opened / iu_gate_closed).
--
-- A row trigger on dot_config writes them in the transaction that changes the
-- gate. The trigger function's body lives in functions/operational_events.sql,
-- applied right after the migrations (fresh install and upgrade alike); the
-- stand-in here only lets the trigger be created first.
CREATE OR REPLACE FUNCTION fn_iu_operational_gate_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_dot_config_gate_event
    AFTER INSERT OR UPDATE OR DELETE ON dot_config
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operational_gate_event();
