-- 008 — limits of HTTP delivery:
--   max_payload_bytes            the largest body a route sends (default 1 MiB);
--                                a larger event becomes a dead letter with the reason
--   disable_after_failing_hours  a route whose every attempt failed for this long,
--                                with no success in between, is disabled automatically
--   iu_route_circuit.failing_since  when the current run of failures began (NULL: the
--                                last attempt succeeded)
ALTER TABLE iu_outbound_route
    ADD COLUMN max_payload_bytes integer NOT NULL DEFAULT 1048576
        CHECK (max_payload_bytes BETWEEN 1 AND 67108864),
    ADD COLUMN disable_after_failing_hours numeric NOT NULL DEFAULT 72
        CHECK (disable_after_failing_hours > 0);
COMMENT ON COLUMN iu_outbound_route.max_payload_bytes IS
    'Largest request body this route sends; an event over it becomes a dead letter.';
COMMENT ON COLUMN iu_outbound_route.disable_after_failing_hours IS
    'A route failing every attempt for this many hours (no success between) is disabled automatically.';

ALTER TABLE iu_route_circuit ADD COLUMN failing_since timestamptz;
COMMENT ON COLUMN iu_route_circuit.failing_since IS
    'Start of the current run of failed attempts (NULL after a success).';
