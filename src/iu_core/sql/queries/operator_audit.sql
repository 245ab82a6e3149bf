-- Named queries of the operator audit's writes (iu_core.ops.audit): changes that
-- are not one row of an audited table. Who and why come from the transaction's
-- iu_core.actor and iu_core.context (iu_core.ops.change).

-- note --
SELECT fn_iu_operator_audit_note(%(object_type)s, %(object_key)s, %(action)s, %(before)s, %(after)s)

-- current_fingerprint --
-- The fingerprint of the credential a rotation replaces (never the secret).
SELECT fingerprint FROM iu_route_credential
 WHERE route_code = %(route_code)s AND kind = %(kind)s AND superseded_at IS NULL
