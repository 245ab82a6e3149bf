-- 019 — asymmetric webhook signatures (Standard Webhooks v1a, Ed25519).
--
-- An external_endpoint route signs either with its shared HMAC secrets
-- ('hmac', the default: v1,…) or with an Ed25519 key pair of its own
-- ('ed25519': v1a,…), so a receiver verifies with a public key and holds no
-- secret. The private key is a credential like a webhook secret (kind
-- 'signing_key', text 'whsk_…', rotated with a window, read only by the
-- targets); its public key ('whpk_…') is stored beside it, and it is what the
-- credential's fingerprint is taken of, so the key is named by what a
-- receiver can see.
ALTER TABLE iu_outbound_route
    ADD COLUMN signature text NOT NULL DEFAULT 'hmac' CHECK (signature IN ('hmac', 'ed25519'));
COMMENT ON COLUMN iu_outbound_route.signature IS
    'How an external_endpoint route signs: hmac (v1, shared webhook secrets) or ed25519 (v1a, its key pair).';

ALTER TABLE iu_route_credential DROP CONSTRAINT iu_route_credential_kind_check;
ALTER TABLE iu_route_credential ADD CONSTRAINT iu_route_credential_kind_check
    CHECK (kind IN ('webhook_secret',   -- whsec_…: signs external_endpoint deliveries (hmac)
                    'access_token',     -- bearer token of a directus_flow route
                    'signing_key'));    -- whsk_…: Ed25519 private key (ed25519)
ALTER TABLE iu_route_credential ADD COLUMN public_key text
    CHECK (public_key IS NULL OR public_key LIKE 'whpk\_%');
COMMENT ON COLUMN iu_route_credential.public_key IS
    'A signing_key''s public key (whpk_ + base64 of the raw 32 bytes): safe to show, hand out and audit.';
