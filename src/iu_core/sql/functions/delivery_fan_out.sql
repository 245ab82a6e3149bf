-- Why a trigger, and not a reader that follows event_seq: event_seq is taken
-- when a row is inserted, not when its transaction commits. A reader that
-- remembers "delivered up to seq 11" can pass over seq 10 whose transaction is
-- still open and commits a moment later: that event would be lost (the
-- sequence-gap problem). Here the delivery rows are inserted by the event's
-- own transaction, in the same statement's trigger: they become visible
-- exactly when the event commits, and vanish with it on rollback. There is no
-- position to remember, so there is no gap to fall into.
--
-- Statement-level with a transition table: one INSERT ... SELECT per
-- statement, however many events it inserted. Routes are those visible to the
-- inserting transaction: a route created later receives only later events
-- (iu-core route backfill for the older ones).
CREATE OR REPLACE FUNCTION fn_iu_delivery_fan_out() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.iu_delivery (route_code, event_id, event_seq, aggregate_id)
    SELECT r.route_code, e.event_id, e.event_seq, e.aggregate_id
      FROM new_events e
      JOIN public.iu_outbound_route r ON r.event_type = e.event_type
    ON CONFLICT (route_code, event_id) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('iu_core_delivery', '');  -- one per transaction (notifications merge)
    END IF;
    RETURN NULL;
END
$$;

-- A change of the gate, the allowlist or a route may make waiting work due.
CREATE OR REPLACE FUNCTION fn_iu_delivery_wake() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('iu_core_delivery', 'config');  -- 'config': workers reload routes
    RETURN NULL;
END
$$;

-- A removed route takes its deliveries and circuit with it.
CREATE OR REPLACE FUNCTION fn_iu_delivery_route_removed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.iu_delivery WHERE route_code = OLD.route_code;
    DELETE FROM public.iu_route_circuit WHERE route_code = OLD.route_code;
    RETURN NULL;
END
$$;
