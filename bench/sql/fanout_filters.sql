-- The fan-out filter benchmark (bench/fanout_filters.py).

-- units --
-- The units events belong to (U-0 .. U-n-1).
INSERT INTO information_unit (code, title) SELECT 'U-' || g, 'unit ' || g FROM generate_series(0, %(n)s - 1) g

-- tags --
-- Every unit tagged with its number (U-7: t7).
INSERT INTO iu_unit_tag (iu_id, tag) SELECT iu_id, 't' || substr(code, 3) FROM information_unit

-- unit_ids --
SELECT iu_id FROM information_unit ORDER BY substr(code, 3)::integer

-- open_gate --
UPDATE dot_config SET value = 'true'::jsonb WHERE key = 'iu_core.delivery_enabled'

-- allowlist --
UPDATE dot_config SET value = to_jsonb(%(routes)s::text[]) WHERE key = 'iu_core.delivery_live_routes'

-- add_route --
-- A live report route (nothing is delivered here: only the fan-out is measured).
INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run,
                               filter_source, filter_tree)
VALUES (%(route_code)s, 'structure_op_applied', 'report', 'table', false,
        %(filter_source)s, %(filter_tree)s::jsonb)

-- insert_events --
-- %(n)s structure events in ONE statement (one run of the statement-level
-- trigger), round-robin over the units; the payload names no code (as a
-- structure event's does not), so an iu: term reads the unit table.
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
SELECT 'structure_op_applied', 'information_unit', u.iu_id,
       jsonb_build_object('iu_id', u.iu_id::text, 'operation_type', 'split',
                          'event_type', 'structure_op_applied', 'pieces', '[]'::jsonb,
                          'eids', jsonb_build_array('chp_1__art_' || g), 'previous_eids', '{}'::jsonb)
  FROM generate_series(1, %(n)s) g
  JOIN (SELECT iu_id, substr(code, 3)::integer AS k FROM information_unit) u
    ON u.k = g %% %(units)s

-- insert_one --
-- One structure event in its own statement and transaction, as a structure operation writes it.
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
VALUES ('structure_op_applied', 'information_unit', %(iu_id)s,
        jsonb_build_object('iu_id', %(iu_id)s::text, 'operation_type', 'split',
                           'event_type', 'structure_op_applied', 'pieces', '[]'::jsonb,
                           'eids', jsonb_build_array('chp_1__art_1'), 'previous_eids', '{}'::jsonb))

-- deliveries --
SELECT count(*) FROM iu_delivery

-- trigger_off --
ALTER TABLE event_outbox DISABLE TRIGGER trg_event_outbox_fan_out

-- trigger_on --
ALTER TABLE event_outbox ENABLE TRIGGER trg_event_outbox_fan_out

-- fan_out_before_filters --
-- The fan-out as it was before route filters (the plain join), to measure
-- what the filter probe costs routes without filters.
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
        PERFORM pg_notify('iu_core_delivery', '');
    END IF;
    RETURN NULL;
END
$$
