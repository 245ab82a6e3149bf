"""The forms that add a route and change its settings: one table of fields, checked like the CLI.

:data:`SETTINGS` lists every setting ``iu-core route set`` changes, with the
same bounds as its options; the route page draws its form from the table and
:func:`changes` turns a submitted form into :class:`RouteChanges`, keeping
only what differs from the route now. A new setting is one more
:class:`Setting` row (and its ``RouteChanges`` field); the form and the
parsing follow. The service layer (``ops.routes``) checks the rest and
audits the change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from iu_core.delivery.kinds import TargetKind
from iu_core.errors import IuCoreError
from iu_core.ops.filters import compile_filter
from iu_core.ops.routes import KNOWN_EVENT_TYPES, SIGNATURES, Route, RouteChanges

# What a target_ref looks like for each kind (shown beside the add form).
REF_HINTS: Mapping[str, str] = {
    TargetKind.SQL_FUNCTION: "a registered internal consumer, e.g. fn_iu_structure_consumer",
    TargetKind.WORKFLOW: "ENGINE:WORKFLOW, e.g. pgqueuer:legal_review",
    TargetKind.VECTOR: "a collection name: 1-64 of A-Z a-z 0-9 . _ : -",
    TargetKind.REPORT: "table, or dir:/ABSOLUTE/PATH",
    TargetKind.EXTERNAL_ENDPOINT: "an http(s) URL, e.g. https://receiver.example/hooks",
    TargetKind.DIRECTUS_FLOW: "https://HOST/flows/trigger/FLOW-UUID",
}
EVENT_TYPES = tuple(sorted(KNOWN_EVENT_TYPES))


def _number(
    cast: Callable[[str], Any],
    low: float | None,
    high: float | None,
    unit: str = "",
    *,
    low_open: bool = False,
) -> Callable[[str, str], Any]:
    def parse(label: str, text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            kind = "a whole number" if cast is int else "a number"
            raise IuCoreError(f"{label}: {text!r} is not {kind}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            lower = f"above {low:g}" if low_open else f"at least {low:g}"
            bound = lower if high is None else f"{lower} and at most {high:g}"
            raise IuCoreError(f"{label}: {text} is out of range: {bound}{f' {unit}' if unit else ''}")
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], Any]:
    def parse(label: str, text: str) -> Any:
        if text not in choices:
            raise IuCoreError(f"{label}: choose one of {', '.join(choices)}")
        return text

    return parse


def _networks(label: str, text: str) -> tuple[str, ...]:
    found: list[str] = []
    for item in text.replace(",", " ").split():
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise IuCoreError(f"{label}: {item!r} is not a network (CIDR, e.g. 10.0.0.0/8)") from None
    return tuple(found)


def _rate(label: str, text: str) -> float | None:
    value = _number(float, 0, None, "per second")(label, text) if text else 0.0
    return value or None  # empty or 0: no limit


def _filter(label: str, text: str) -> str:
    """A filter's text, checked as ``route set --filter`` checks it; empty: no filter (clears it)."""
    if text:
        try:
            compile_filter(text)
        except IuCoreError as exc:
            raise IuCoreError(f"{label}: {exc}") from None
    return text


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, Decimal | float):
        return f"{value:g}" if isinstance(value, float) else f"{value.normalize():f}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One field of the settings form: a ``RouteChanges`` field, its label, how its text is read."""

    name: str  # the form field, the Route attribute and the RouteChanges field
    label: str
    parse: Callable[[str, str], Any]  # (label, text) -> value; IuCoreError when it is not one
    hint: str = ""
    choices: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # only routes of these kinds have it (empty: every route)
    optional: bool = False  # an empty field is a value (None), not a missing one
    numeric: bool = True

    def applies(self, route: Route) -> bool:
        return not self.kinds or route.target_kind in self.kinds

    def current(self, route: Route) -> str:
        return _shown(getattr(route, self.name))

    def into(self, value: Any) -> dict[str, Any]:
        """The RouteChanges fields this value sets."""
        if self.name == "rate_limit_per_s":
            return {"set_rate_limit": True, "rate_limit_per_s": value}
        return {self.name: value}


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "filter",
        "filter",
        _filter,
        "which events of the type it takes, e.g. iu:LAW-* and not tag:draft (docs/route-filters.md); "
        "empty: every one",
        optional=True,
        numeric=False,
    ),
    Setting("max_attempts", "max attempts", _number(int, 1, 100), "attempts before a dead letter"),
    Setting("base_delay_ms", "first retry delay (ms)", _number(int, 0, 3_600_000, "ms"), "doubles, jittered"),
    Setting(
        "ordering_policy",
        "ordering",
        _choice(("strict", "relaxed")),
        "strict: a dead letter holds its IU",
        choices=("strict", "relaxed"),
        numeric=False,
    ),
    Setting(
        "timeout_s",
        "request timeout (s)",
        _number(float, 0, 300, "s", low_open=True),
        kinds=("external_endpoint", "directus_flow"),
    ),
    Setting(
        "connect_timeout_s",
        "connect timeout (s)",
        _number(float, 0, 300, "s", low_open=True),
        kinds=("external_endpoint", "directus_flow"),
    ),
    Setting("max_in_flight", "max in flight", _number(int, 1, 1000), "concurrent deliveries of this route"),
    Setting(
        "rate_limit_per_s",
        "rate limit (per s)",
        _rate,
        "empty or 0: no limit",
        optional=True,
    ),
    Setting(
        "circuit_failure_threshold",
        "circuit threshold",
        _number(int, 1, None),
        "failures in a row that open it",
    ),
    Setting("circuit_cooldown_s", "circuit cooldown (s)", _number(int, 1, 7 * 86400, "s"), "up to 7 days"),
    Setting(
        "max_payload_bytes",
        "max payload (bytes)",
        _number(int, 1, 64 * 1024 * 1024),
        "a larger event is a dead letter",
    ),
    Setting(
        "disable_after_failing_hours",
        "disable after failing (hours)",
        _number(float, 0, 24 * 36500, "hours", low_open=True),
        "when every attempt failed this long",
    ),
    Setting(
        "allow_networks",
        "allowed networks",
        _networks,
        "CIDRs the address policy lets through, comma separated; empty: none",
        kinds=("external_endpoint", "directus_flow"),
        optional=True,
        numeric=False,
    ),
    Setting(
        "signature",
        "signature",
        _choice(SIGNATURES),
        "ed25519: the first switch makes the route's key pair",
        choices=SIGNATURES,
        kinds=("external_endpoint",),
        numeric=False,
    ),
)


def values(route: Route, form: Mapping[str, str] | None = None) -> dict[str, str]:
    """What each field of the route's form shows: the submitted text, else the current value."""
    return {
        s.name: (form[s.name] if form is not None and s.name in form else s.current(route))
        for s in SETTINGS
        if s.applies(route)
    }


def changes(route: Route, form: Mapping[str, str]) -> RouteChanges:
    """The settings the form changes (those that differ from the route now); IuCoreError on bad input."""
    found: dict[str, Any] = {}
    for s in SETTINGS:
        if not s.applies(route) or s.name not in form:
            continue
        text = form[s.name].strip()
        if not text and not s.optional:
            raise IuCoreError(f"{s.label}: a value is required")
        value = s.parse(s.label, text) if text or s.name != "allow_networks" else ()
        if _same(getattr(route, s.name), value):
            continue
        found.update(s.into(value))
    if not found:
        raise IuCoreError("nothing to change: every setting is as it was")
    return RouteChanges(**found)


def _same(current: Any, value: Any) -> bool:
    if current is None and value == "":
        return True  # no filter, and none asked for
    if isinstance(current, Decimal) and isinstance(value, int | float):
        return float(current) == float(value)
    return bool(current == value)
