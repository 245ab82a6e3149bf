-- The transactional outbox: events written in the same transaction as the
-- domain change they describe. event_seq is allocation order, not commit order:
-- the fan-out trigger (wiring.sql) is what makes delivery gap-free.
CREATE TABLE event_outbox (
    event_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_seq      bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- allocation order, NOT commit order
    event_type     text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   uuid NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE event_outbox IS 'Events written in the same transaction as the domain change they describe.';
CREATE INDEX event_outbox_type_seq_idx ON event_outbox (event_type, event_seq);
CREATE INDEX event_outbox_aggregate_idx ON event_outbox (aggregate_id, event_seq);
