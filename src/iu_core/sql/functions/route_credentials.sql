-- Make p_secret the current credential of (route, kind). The credential it
-- replaces stays valid for p_window (0: deleted at once); older superseded ones
-- are deleted, so at most two secrets sign at any time (new and previous), and
-- a credential that no longer signs is not kept.
CREATE OR REPLACE FUNCTION fn_iu_route_credential_replace(
    p_route_code  text,
    p_kind        text,
    p_secret      text,
    p_fingerprint text,
    p_window      interval
) RETURNS timestamptz  -- until when the replaced credential stays valid (NULL: there was none)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
