-- 023 — the trace context of the change that wrote an event.
--
-- With tracing on, a structure operation stores the W3C traceparent of the
-- span that wrote the event (the outbox INSERT, inside the operation's span)
-- in the same transaction; the worker's claim returns it, and each delivery
-- attempt continues that trace (a webhook's traceparent header, a workflow
-- job's traceparent field). NULL when tracing was off. The CHECK keeps the
-- column to version 00 of the W3C shape: no header the worker sends can be
-- anything but a well-formed traceparent.
ALTER TABLE event_outbox
    ADD COLUMN traceparent text
        CONSTRAINT event_outbox_traceparent_w3c
        CHECK (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
               AND substr(traceparent, 4, 32) <> repeat('0', 32)
               AND substr(traceparent, 37, 16) <> repeat('0', 16));

COMMENT ON COLUMN event_outbox.traceparent IS
    'W3C traceparent of the span that wrote the event (tracing on), else NULL.';

-- The claim returns the column: its result type changes, which CREATE OR
-- REPLACE cannot do. The function file (functions/worker_claim.sql) creates
-- it again right after the migrations, and grants.sql its privileges.
DROP FUNCTION IF EXISTS fn_iu_worker_claim(text, integer, text, numeric);
