-- 006 — HTTP targets: per-route credentials for the
-- external_endpoint target (Standard Webhooks signing secrets) and the
-- directus_flow target (Directus access tokens).
--
-- A credential's text is read only by the targets (to sign or authenticate a
-- request) and by `route secret rotate`, which prints a new secret once.
-- Everything else — CLI output, attempt details, logs, errors — names a
-- credential by its fingerprint (sha256 prefix), never by its text.


CREATE TABLE iu_route_credential (
    credential_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_code    text NOT NULL REFERENCES iu_outbound_route (route_code)
                  ON UPDATE CASCADE ON DELETE CASCADE,  -- a removed route takes its secrets with it
    kind          text NOT NULL
                  CHECK (kind IN ('webhook_secret',   -- whsec_…: signs external_endpoint deliveries
                                  'access_token')),   -- bearer token of a directus_flow route
    secret        text NOT NULL CHECK (secret <> ''),
    fingerprint   text NOT NULL,                      -- 'sha256:' + 16 hex: safe to show and log
    created_at    timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz,   -- NULL: the current credential of (route, kind)
    valid_until   timestamptz,   -- superseded: still signs until then (the rotation window)
    CHECK ((superseded_at IS NULL) = (valid_until IS NULL))
);
COMMENT ON TABLE iu_route_credential IS
    'Per-route signing secrets and access tokens. One current row per (route, kind); a superseded '
    'webhook secret keeps signing until valid_until so receivers can switch without a gap.';
COMMENT ON COLUMN iu_route_credential.secret IS
    'The credential itself. Never selected by reports; shown only once, by route secret rotate.';

-- At most one current credential per route and kind.
CREATE UNIQUE INDEX iu_route_credential_current_idx
    ON iu_route_credential (route_code, kind) WHERE superseded_at IS NULL;

REVOKE ALL ON iu_route_credential FROM PUBLIC;


-- Make p_secret the current credential of (route, kind). The credential it
-- replaces stays valid for p_window (0: deleted at once); older superseded ones
-- are deleted, so at most two secrets sign at any time (new and previous), and
-- a credential that no longer signs is not kept.
CREATE FUNCTION fn_iu_route_credential_replace(
    p_route_code  text,
    p_kind        text,
    p_secret      text,
    p_fingerprint text,
    p_window      interval
) RETURNS timestamptz  -- until when the replaced credential stays valid (NULL: there was none)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_valid_until timestamptz;
BEGIN
    IF p_window < interval '0' THEN
        RAISE EXCEPTION 'rotation window must not be negative' USING ERRCODE = '22023';
    END IF;
    -- Lock the route: concurrent rotations of one route serialise here.
    PERFORM 1 FROM public.iu_outbound_route WHERE route_code = p_route_code FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown route %', p_route_code USING ERRCODE = 'IU004';
    END IF;

    DELETE FROM public.iu_route_credential             -- the previous-but-one: stops signing now
     WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NOT NULL;

    IF p_window > interval '0' THEN
        UPDATE public.iu_route_credential              -- current -> previous, for the window
           SET superseded_at = now(),
               valid_until   = now() + p_window
         WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NULL
        RETURNING valid_until INTO v_valid_until;
    ELSE
        DELETE FROM public.iu_route_credential         -- no window: the old one is gone at once
         WHERE route_code = p_route_code AND kind = p_kind AND superseded_at IS NULL;
    END IF;

    INSERT INTO public.iu_route_credential (route_code, kind, secret, fingerprint)
    VALUES (p_route_code, p_kind, p_secret, p_fingerprint);
    RETURN v_valid_until;
END
$$;


-- Enable or disable a route by an operator (`iu-core route enable|disable`).
-- The delivery guard refuses ANY update of a live route while the gate is
-- closed or the route is off the allowlist; then the route is also put back
-- into dry-run (always allowed), as the worker does on HTTP 410: fail-closed,
-- and the caller is told (forced_dry_run).
CREATE FUNCTION fn_iu_route_set_enabled(
    p_route_code text,
    p_enabled    boolean,
    p_reason     text,
    OUT route_code      text,
    OUT enabled         boolean,
    OUT disabled_reason text,
    OUT dry_run         boolean,
    OUT forced_dry_run  boolean
)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    forced_dry_run := false;
    BEGIN
        UPDATE public.iu_outbound_route r
           SET enabled         = p_enabled,
               disabled_reason = CASE WHEN p_enabled THEN NULL ELSE left(p_reason, 500) END,
               updated_at      = now()
         WHERE r.route_code = p_route_code
        RETURNING r.route_code, r.enabled, r.disabled_reason, r.dry_run
             INTO route_code, enabled, disabled_reason, dry_run;
    EXCEPTION WHEN SQLSTATE 'IU001' OR SQLSTATE 'IU002' THEN
        UPDATE public.iu_outbound_route r
           SET enabled         = p_enabled,
               disabled_reason = CASE WHEN p_enabled THEN NULL ELSE left(p_reason, 500) END,
               dry_run         = true,
               updated_at      = now()
         WHERE r.route_code = p_route_code
        RETURNING r.route_code, r.enabled, r.disabled_reason, r.dry_run
             INTO route_code, enabled, disabled_reason, dry_run;
        forced_dry_run := true;
    END;
    IF route_code IS NULL THEN
        RAISE EXCEPTION 'unknown route %', p_route_code USING ERRCODE = 'IU004';
    END IF;
END
$$;
