"""What both HTTP targets share: read the route, refuse early, build the body, POST, classify.

A target's ``deliver`` is synchronous, thread-safe and never raises: every
problem becomes a failed ``DeliveryOutcome`` whose ``detail`` tells the worker
whether to retry (see ``classify.py`` for the keys).
"""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.targets import transport
from iu_core.targets.classify import StatusRule, failed, outcome_from_http
from iu_core.targets.route_settings import RouteHttpSettings, RouteSettingsReader, SettingsUnavailable
from iu_core.targets.webhook import event_body

__all__ = ["HttpTarget", "Prepared"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready to send: where, and the kind-specific headers."""

    url: str
    headers: dict[str, str]


class _Misconfigured(Exception):
    """The route cannot be delivered as configured (missing secret, bad target_ref)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class HttpTarget(ABC):
    """Base of the HTTP targets; subclasses say where to POST and with which headers."""

    target_kind: str
    status_rule: StatusRule | None = None
    # The worker sends this kind on its event loop (iu_core.targets.http) with the
    # same request and classification; ``deliver`` serves the seam and one-off calls.
    asyncio_path = True

    def __init__(self, reader: RouteSettingsReader) -> None:
        self._reader = reader

    @property
    def reader(self) -> RouteSettingsReader:
        """The settings reader this target shares with its siblings."""
        return self._reader

    @abstractmethod
    def prepare(self, request: DeliveryRequest, settings: RouteHttpSettings, body: bytes) -> Prepared:
        """URL and headers for this attempt; raise ``_Misconfigured`` when impossible."""

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        kind = self.target_kind
        try:
            settings = self._settings(request)
            if isinstance(settings, DeliveryOutcome):
                return settings
            event_type = str(request.safe_payload.get("event_type") or settings.event_type)
            occurred_at = self._reader.occurred_at(request.event_ref) or dt.datetime.now(dt.UTC)
            body = event_body(request.idempotency_key, event_type, occurred_at, request.safe_payload)
            prepared = self.prepare(request, settings, body)
        except SettingsUnavailable as exc:
            return failed(kind, retryable=True, failure="settings_unavailable", reason=str(exc))
        except _Misconfigured as exc:
            return failed(
                kind,
                retryable=exc.retryable,
                failure="misconfigured",
                reason=exc.reason,
                webhook_id=request.idempotency_key,
            )
        except Exception as exc:  # a bug must not kill a worker thread; the type name carries no secret
            return failed(
                kind, retryable=True, failure="internal_error", reason=f"internal error: {type(exc).__name__}"
            )
        try:
            result = transport.post(
                prepared.url,
                body,
                prepared.headers,
                allow_networks=settings.allow_networks,
                timeout_s=settings.timeout_s,
                connect_timeout_s=settings.connect_timeout_s,
            )
            return outcome_from_http(
                kind, result, webhook_id=request.idempotency_key, status_rule=self.status_rule
            )
        except Exception as exc:  # as above: report, never raise
            return failed(
                kind, retryable=True, failure="internal_error", reason=f"internal error: {type(exc).__name__}"
            )

    def _settings(self, request: DeliveryRequest) -> RouteHttpSettings | DeliveryOutcome:
        kind = self.target_kind
        settings = self._reader.get(request.route_code)
        if settings is not None and settings.live_refusal is not None:
            # A refusal is never served from the cache: the route may have just gone live.
            settings = self._reader.get(request.route_code, fresh=True)
        if settings is None:
            return failed(
                kind, retryable=False, failure="misconfigured", reason=f"unknown route {request.route_code}"
            )
        if settings.target_kind != kind:
            return failed(
                kind,
                retryable=False,
                failure="misconfigured",
                reason=f"route {settings.route_code} has target_kind {settings.target_kind}, not {kind}",
            )
        refusal = settings.live_refusal
        if refusal is not None:
            # Defence in depth: the worker checks the gate too; a race with an
            # operator closing it lands here and is retried later, not lost.
            return failed(kind, retryable=True, failure="not_live", reason=f"not delivered: {refusal}")
        return settings

    @staticmethod
    def attempt_timestamp() -> int:
        """``webhook-timestamp``: whole seconds, new on every attempt."""
        return int(time.time())


def misconfigured(reason: str, *, retryable: bool) -> _Misconfigured:
    return _Misconfigured(reason, retryable=retryable)
