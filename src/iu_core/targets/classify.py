"""Turning one HTTP exchange into a ``DeliveryOutcome`` the worker can act on.

The worker (not the target) retries, backs off, honours ``retry_after_s``,
dead-letters and disables routes; the target only says precisely what
happened. Every outcome's ``detail`` has the same keys:

- ``retryable`` (bool): a later attempt may succeed;
- ``retry_after_s`` (float | None): the server's Retry-After, clamped;
- ``disable_route`` (bool): true on HTTP 410 Gone — an operator must re-enable;
- ``reason`` (str): one line, never a secret;
- ``http_status`` (int | None), ``latency_ms`` (float), ``response_body``
  (str | None, at most 16 KiB, UTF-8 with replacement);
- ``response_headers`` (dict | None: the receiver's headers, lower-case names,
  without cookies or credentials, at most 50 of at most 500 characters);
- ``response_truncated`` (bool), ``failure`` (str | None: ``refused``,
  ``not_live``, ``misconfigured``, ``settings_unavailable``, ``connect_error``
  (includes TLS failures), ``connect_timeout``, ``timeout``, ``network_error``,
  ``protocol_error``, ``http_error``, ``redirect``, ``http_status``,
  ``internal_error``), ``address`` (the peer IP or None),
  ``webhook_id`` (the idempotency key sent).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Mapping
from typing import Any

from iu_core.delivery_seam import DeliveryOutcome
from iu_core.targets.http.client import HttpResult

__all__ = [
    "RETRY_AFTER_MAX_S",
    "RETRY_AFTER_MIN_S",
    "classify_status",
    "failed",
    "outcome_from_http",
    "parse_retry_after",
    "shown_headers",
]

RETRY_AFTER_MIN_S = 1.0
RETRY_AFTER_MAX_S = 3600.0  # a server asking for more than an hour gets an hour


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), clamped; None if absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


# Response headers never recorded: what a receiver sets as a credential.
_UNRECORDED_HEADERS = frozenset(
    {"set-cookie", "set-cookie2", "cookie", "authorization", "proxy-authorization", "www-authenticate"}
)
_MAX_HEADERS = 50
_MAX_HEADER_CHARS = 500


def shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The receiver's headers as recorded: lower-case names, no credentials, bounded."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _UNRECORDED_HEADERS or len(kept) >= _MAX_HEADERS:
            continue
        kept[key[:100]] = value[:_MAX_HEADER_CHARS]
    return kept


# (retryable, disable_route, reason) for a status code.
StatusRule = Callable[[int], tuple[bool, bool, str] | None]


def classify_status(status: int) -> tuple[bool, bool, str]:
    """The default classification of a non-2xx final status (external endpoints)."""
    if 300 <= status < 400:
        return False, False, f"HTTP {status} redirect not followed (point target_ref at the final URL)"
    if status == 410:
        return False, True, "HTTP 410 Gone: the receiver retired this endpoint; the route is disabled"
    if status in (408, 429) or 500 <= status < 600:
        return True, False, f"HTTP {status}: the receiver is busy or failing; retryable"
    if 400 <= status < 500:
        return False, False, f"HTTP {status}: the receiver rejected the event; permanent"
    return False, False, f"HTTP {status}: unexpected status; permanent"


def _detail(**values: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "retryable": False,
        "retry_after_s": None,
        "disable_route": False,
        "reason": "",
        "http_status": None,
        "latency_ms": 0.0,
        "response_body": None,
        "response_headers": None,
        "response_truncated": False,
        "failure": None,
        "address": None,
        "webhook_id": None,
    }
    detail.update(values)
    return detail


def failed(target_kind: str, *, retryable: bool, failure: str, reason: str, **extra: Any) -> DeliveryOutcome:
    """A failure decided before any HTTP exchange (refused, misconfigured, not live)."""
    detail = _detail(retryable=retryable, failure=failure, reason=reason, **extra)
    return DeliveryOutcome(status="failed", delivered=False, target_kind=target_kind, detail=detail)


def outcome_from_http(
    target_kind: str,
    result: HttpResult,
    *,
    webhook_id: str,
    status_rule: StatusRule | None = None,
) -> DeliveryOutcome:
    """Classify one exchange. ``status_rule`` may override the default for some statuses."""
    common: dict[str, Any] = {
        "latency_ms": result.latency_ms,
        "address": result.address,
        "webhook_id": webhook_id,
    }
    if result.refused is not None:
        return failed(
            target_kind,
            retryable=result.refused.retryable,
            failure="refused",
            reason=result.refused.reason,
            **common,
        )
    if result.status is None:
        kind = result.error or "http_error"
        return failed(
            target_kind,
            retryable=True,
            failure=kind,
            reason=f"{kind.replace('_', ' ')}: {result.error_text or 'no response'}; retryable",
            **common,
        )
    body = result.body.decode("utf-8", errors="replace")
    common.update(
        http_status=result.status,
        response_body=body,
        response_headers=shown_headers(result.headers),
        response_truncated=result.truncated,
    )
    if 200 <= result.status < 300:
        detail = _detail(reason=f"HTTP {result.status}", **common)
        return DeliveryOutcome(status="sent", delivered=True, target_kind=target_kind, detail=detail)
    rule = (status_rule(result.status) if status_rule else None) or classify_status(result.status)
    retryable, disable, reason = rule
    retry_after = parse_retry_after(result.headers.get("retry-after")) if retryable else None
    if retry_after is not None:
        reason = f"{reason} (Retry-After {retry_after:g} s)"
    failure = "redirect" if 300 <= result.status < 400 else "http_status"
    return failed(
        target_kind,
        retryable=retryable,
        disable_route=disable,
        retry_after_s=retry_after,
        failure=failure,
        reason=reason,
        **common,
    )
