"""IU Core: fail-closed, idempotent, audited delivery of a knowledge hub's outbox events."""

__version__ = "0.1.0"
