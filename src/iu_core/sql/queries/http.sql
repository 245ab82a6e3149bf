-- Named queries of the HTTP targets (iu_core.targets) and their CLI (cli/http.py).

-- route_http_settings --
-- Everything a target needs about one route, and whether it may deliver now.
SELECT r.route_code,
       r.event_type,
       r.target_kind,
       r.target_ref,
       r.enabled,
       r.disabled_reason,
       r.dry_run,
       r.timeout_s::float8          AS timeout_s,
       r.connect_timeout_s::float8  AS connect_timeout_s,
       r.allow_networks,
       r.signature,
       (SELECT f.message FROM public.fn_iu_route_refusal(r) f) AS refusal
  FROM iu_outbound_route r
 WHERE r.route_code = %(route_code)s

-- route_active_credentials --
-- Credentials that sign or authenticate now: the current one first, then a
-- superseded one still inside its rotation window.
SELECT kind, secret, fingerprint, valid_until
  FROM iu_route_credential
 WHERE route_code = %(route_code)s
   AND (superseded_at IS NULL OR valid_until > now())
 ORDER BY kind, superseded_at NULLS FIRST, credential_id DESC

-- event_occurred_at --
SELECT occurred_at FROM event_outbox WHERE event_id = %(event_ref)s
