"""The console's policy form takes what ``iu-core route set`` takes: every setting, the same bounds."""

from __future__ import annotations

import dataclasses

import click
import pytest

from iu_core.cli.route import route_set_cmd
from iu_core.console import route_form
from iu_core.errors import IuCoreError
from iu_core.ops.filters import compile_filter
from iu_core.ops.routes import RouteChanges

# The form's field for each option of `route set` that changes a policy setting.
OPTION_OF = {
    "max_attempts": "max_attempts",
    "base_delay_ms": "base_delay_ms",
    "ordering_policy": "ordering",
    "timeout_s": "timeout_s",
    "connect_timeout_s": "connect_timeout_s",
    "max_in_flight": "max_in_flight",
    "rate_limit_per_s": "rate_limit",
    "circuit_failure_threshold": "circuit_threshold",
    "circuit_cooldown_s": "circuit_cooldown",
    "max_payload_bytes": "max_payload_bytes",
    "disable_after_failing_hours": "disable_after_failing_hours",
    "signature": "signature",
    "filter": "filter_text",  # a string to click; checked by compile_filter, as route set checks it
}
# RouteChanges fields that have forms of their own on the route's page (target, go live / dry-run).
OWN_FORMS = {"target_kind", "target_ref", "dry_run", "set_rate_limit"}
PROBES = [
    "-1", "0", "0.5", "1", "2", "100", "101", "300", "300.5", "1000", "1001", "3600000", "3600001",
    "604800", "604801", "67108864", "67108865", "876000", "876001", "many", "1e3",
    "strict", "relaxed", "sideways", "hmac", "ed25519", "rsa",
    "iu:LAW-*", "tag:draft and not lang:vi", "iu:", "(op:split", "kind:article or",
]  # fmt: skip


def test_every_setting_of_route_set_is_on_the_form() -> None:
    names = {f.name for f in dataclasses.fields(RouteChanges)} - OWN_FORMS
    assert {s.name for s in route_form.SETTINGS} == names


@pytest.mark.parametrize("name", sorted(OPTION_OF))
def test_the_form_accepts_and_refuses_the_values_the_command_line_does(name: str) -> None:
    setting = next(s for s in route_form.SETTINGS if s.name == name)
    option = next(p for p in route_set_cmd.params if p.name == OPTION_OF[name])
    for text in PROBES:
        try:
            option.type.convert(text, option, None)
            if name == "filter":
                compile_filter(text)
            cli_takes = True
        except (click.BadParameter, IuCoreError):
            cli_takes = False
        try:
            setting.parse(setting.label, text)
            form_takes = True
        except IuCoreError:
            form_takes = False
        assert form_takes == cli_takes, (name, text, cli_takes)


def test_allowed_networks_are_checked_and_an_empty_field_clears_them() -> None:
    setting = next(s for s in route_form.SETTINGS if s.name == "allow_networks")
    assert setting.parse(setting.label, "10.0.0.0/8, ::1/128") == ("10.0.0.0/8", "::1/128")
    with pytest.raises(IuCoreError, match=r"'10\.0\.0\.300/8' is not a network"):
        setting.parse(setting.label, "10.0.0.300/8")
