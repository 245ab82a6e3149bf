-- Named queries of retention (iu_core.retention). The batches themselves are
-- fn_iu_retention_prune (sql/functions/retention_prune.sql).

-- settings --
SELECT s.table_name, s.keep_for, s.enabled FROM public.iu_retention_setting s ORDER BY s.table_name

-- prune_batch --
SELECT affected, scanned, last_key, done
  FROM public.fn_iu_retention_prune(%(table)s, %(cutoff)s, %(after)s, %(limit)s, %(dry_run)s)

-- horizon --
SELECT h.horizon_at, h.horizon_seq, h.last_run_at FROM public.iu_retention_horizon h WHERE h.singleton

-- record_run --
UPDATE public.iu_retention_horizon SET last_run_at = now(), last_report = %(report)s WHERE singleton

-- try_lock --
SELECT pg_try_advisory_lock(%(key)s)

-- unlock --
SELECT pg_advisory_unlock(%(key)s)

-- now --
SELECT now()
