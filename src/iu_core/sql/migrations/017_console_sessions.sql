-- 017 — console sessions that end for good, and console users in the operator audit.
--
-- A session cookie names its user's session_epoch. Until now an epoch
-- restarted at 0 when a user was removed and added again, so every cookie of
-- the old user (even ones ended by log-out) came back to life. Epochs now come
-- from one sequence: a value is handed out once, to one user, ever. It starts
-- above every value the old integer column could hold, so no cookie issued
-- before this migration matches a new epoch either; every current session
-- ends once, here.
CREATE SEQUENCE iu_console_session_epoch_seq AS bigint START WITH 2147483648;
ALTER TABLE iu_console_user
    ALTER COLUMN session_epoch TYPE bigint,
    ALTER COLUMN session_epoch SET DEFAULT nextval('iu_console_session_epoch_seq');
ALTER SEQUENCE iu_console_session_epoch_seq OWNED BY iu_console_user.session_epoch;
UPDATE iu_console_user SET session_epoch = nextval('iu_console_session_epoch_seq');

-- Adding, removing a console user and changing its password are operator
-- changes: one audit row each (the password hash is never recorded). The
-- object type is added to the audit's check unless an earlier migration has
-- added it already, so the check never loses a type another migration added.
DO $$
BEGIN
    IF pg_catalog.pg_get_constraintdef(
           (SELECT oid FROM pg_catalog.pg_constraint
             WHERE conrelid = 'public.iu_operator_audit'::regclass
               AND conname = 'iu_operator_audit_object_type_check'))
       NOT LIKE '%''console_user''%' THEN
        ALTER TABLE public.iu_operator_audit
            DROP CONSTRAINT iu_operator_audit_object_type_check,
            ADD CONSTRAINT iu_operator_audit_object_type_check
                CHECK (object_type IN ('route',          -- a row of iu_outbound_route
                                       'config',         -- a row of dot_config (gate, allowlist)
                                       'consumer',       -- a row of iu_internal_consumer
                                       'console_user')); -- a user of the web console
    END IF;
END
$$;
