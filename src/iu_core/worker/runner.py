"""The worker's entry points (kept here for callers that import them from ``runner``).

The machinery is split into services, each in its own module; the
supervisor (``iu_core.worker.supervisor``) starts and drains them.
"""

from __future__ import annotations

from iu_core.worker.supervisor import NotMigrated, Worker, run_worker

__all__ = ["NotMigrated", "Worker", "run_worker"]
