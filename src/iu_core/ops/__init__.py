"""The operator service layer: every action an operator takes, for the CLI and the console alike.

Each action is a function taking a connection (and, when it changes
something, an ``actor``) and returning a typed result. Changes run in one
audited transaction (``iu_core.ops.change``), so the audit trail names the
actor whichever front end called. Nothing here prints.
"""

from iu_core.actor import default_actor
from iu_core.ops import allowlist, audit, dead_letters, deliveries, gate, routes, secrets, status
from iu_core.ops.change import Changed

__all__ = [
    "Changed",
    "allowlist",
    "audit",
    "dead_letters",
    "default_actor",
    "deliveries",
    "gate",
    "routes",
    "secrets",
    "status",
]
