"""The grammar of a ``workflow`` route's target_ref: ``event_outbox`` or ``ENGINE:ENTRYPOINT``."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["NOOP_REF", "RefError", "WorkflowRef", "parse_ref"]

NOOP_REF = "event_outbox"
"""The original no-op: a live route with this ref skips its events, which stay in the outbox."""

# An entrypoint is a job name the consumer registers: keep it to a plain,
# printable token so it reads the same in the route, the queue and the consumer.
_ENTRYPOINT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")


class RefError(ValueError):
    """A target_ref that is not a workflow reference (the message is one line for the user)."""


@dataclass(frozen=True, slots=True)
class WorkflowRef:
    """A parsed target_ref: ``engine`` None means the ``event_outbox`` no-op."""

    engine: str | None
    entrypoint: str | None

    @property
    def noop(self) -> bool:
        return self.engine is None


def _usage(engines: Collection[str]) -> str:
    known = ", ".join(sorted(engines)) or "none"
    return f"use '{NOOP_REF}' or ENGINE:ENTRYPOINT (engines: {known}), e.g. 'pgqueuer:reindex'"


def parse_ref(target_ref: str, engines: Collection[str]) -> WorkflowRef:
    """``target_ref`` parsed against the known engine prefixes; ``RefError`` when it is not valid."""
    if target_ref == NOOP_REF:
        return WorkflowRef(engine=None, entrypoint=None)
    prefix, colon, entrypoint = target_ref.partition(":")
    if not colon:
        raise RefError(f"workflow target_ref {target_ref!r} is not valid: {_usage(engines)}")
    if prefix not in engines:
        raise RefError(f"unknown workflow engine {prefix!r} in target_ref {target_ref!r}: {_usage(engines)}")
    if not _ENTRYPOINT.fullmatch(entrypoint):
        raise RefError(
            f"malformed entrypoint {entrypoint!r} in target_ref {target_ref!r}: 1-100 letters, digits, "
            "'_', '.' or '-', starting with a letter or '_'"
        )
    return WorkflowRef(engine=prefix, entrypoint=entrypoint)
