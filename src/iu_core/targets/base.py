"""What both HTTP targets share: read the route, refuse early, then the worker's own send.

A target's ``deliver`` is synchronous, thread-safe and never raises: every
problem becomes a failed ``DeliveryOutcome`` whose ``detail`` tells the worker
whether to retry (see ``classify.py`` for the keys). After the route's
settings are read and its gate checked, the delivery is exactly the worker's:
``sender.RoutePlan`` builds the route's plan, ``sender.prepare`` the signed
body and headers, and ``sender.send`` POSTs it with the one
``AsyncHttpClient``, run on this process's HTTP loop thread (``http.sync``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.targets.classify import failed
from iu_core.targets.http import sync
from iu_core.targets.http.sender import RoutePlan, prepare, send
from iu_core.targets.route_settings import RouteHttpSettings, RouteSettingsReader, SettingsUnavailable

__all__ = ["HttpTarget", "plan_settings"]

# How long a synchronous caller waits past the attempt's own deadline before
# reporting the loop thread as stuck (the attempt itself never runs longer).
_LOOP_GRACE_S = 10.0


def plan_settings(settings: RouteHttpSettings, target_ref: str) -> dict[str, Any]:
    """The route's settings in the shape the worker's claim returns them (``RoutePlan.build``)."""
    signing = settings.signing_secrets()
    credentials: list[dict[str, Any]] = [
        {"kind": "webhook_secret", "secret": secret, "current": i == 0} for i, secret in enumerate(signing)
    ]
    credentials += [
        {"kind": "signing_key", "secret": key, "current": i == 0}
        for i, key in enumerate(settings.active_signing_keys())
    ]
    if settings.access_token:
        credentials.append({"kind": "access_token", "secret": settings.access_token, "current": True})
    return {
        "target_kind": settings.target_kind,
        "target_ref": target_ref,
        "event_type": settings.event_type,
        "timeout_s": settings.timeout_s,
        "connect_timeout_s": settings.connect_timeout_s,
        "allow_networks": settings.allow_networks,
        "signature": settings.signature,
        "credentials": credentials,
    }


class HttpTarget:
    """Base of the HTTP targets; a subclass only names its kind."""

    target_kind: str
    # The worker sends this kind on its own event loop (worker/http_dispatcher.py)
    # with the same plan, request and classification; ``deliver`` serves the
    # seam, ``iu-core deliver test`` and the contract suite.
    asyncio_path = True

    def __init__(self, reader: RouteSettingsReader) -> None:
        self._reader = reader

    @property
    def reader(self) -> RouteSettingsReader:
        """The settings reader this target shares with its siblings."""
        return self._reader

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        kind = self.target_kind
        webhook_id = request.idempotency_key
        try:
            settings = self._settings(request)
            if isinstance(settings, DeliveryOutcome):
                return settings
            plan = RoutePlan.build(settings.route_code, plan_settings(settings, request.target_ref))
            occurred_at = self._reader.occurred_at(request.event_ref) or dt.datetime.now(dt.UTC)
            prepared = prepare(plan, webhook_id, settings.event_type, occurred_at, request.safe_payload)
            if isinstance(prepared, DeliveryOutcome):
                return prepared
            bound = plan.timeout_s + _LOOP_GRACE_S
            return sync.run(lambda client: send(plan, client, prepared, webhook_id), bound)
        except SettingsUnavailable as exc:
            return failed(kind, retryable=True, failure="settings_unavailable", reason=str(exc))
        except Exception as exc:  # a bug must not kill a worker thread; the type name carries no secret
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
