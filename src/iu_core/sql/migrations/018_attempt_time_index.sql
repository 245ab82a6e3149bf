-- 018 — attempts found by when they finished.
--
-- The console's chart (attempts per minute of the last hour) and its health
-- table (success rate, attempts per minute and latency per route over the
-- last hour and day) read the attempts that finished in a recent window;
-- without this index each read scanned every attempt kept (30 days).
CREATE INDEX iu_route_attempt_finished_idx ON iu_route_attempt (finished_at);
