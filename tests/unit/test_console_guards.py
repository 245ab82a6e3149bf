"""The console's guards without a server: the login limiter, whom it counts, where a form may lead."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request

from iu_core.cli.console import read_secret
from iu_core.console.app import safe_path
from iu_core.console.auth import LoginLimiter, client_address
from iu_core.errors import IuCoreError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_forgets_a_key_once_its_window_has_passed() -> None:
    clock = Clock()
    limiter = LoginLimiter(max_failures=2, window_s=60, clock=clock)
    limiter.failed("10.0.0.1", "alice")
    limiter.failed("10.0.0.1", "alice")
    assert limiter.retry_after("10.0.0.1", "bob") > 0  # the address is limited
    assert limiter.retry_after("10.0.0.2", "alice") > 0  # and so is the name
    assert len(limiter) == 2
    clock.now += 61
    assert limiter.retry_after("10.0.0.1", "alice") == 0
    assert len(limiter) == 0  # expired keys are gone, not just ignored


def test_the_limiter_keeps_at_most_max_keys_and_asking_adds_none() -> None:
    clock = Clock()
    limiter = LoginLimiter(max_failures=3, window_s=600, max_keys=100, clock=clock)
    for i in range(1000):
        assert limiter.retry_after(f"10.0.{i // 256}.{i % 256}", f"name{i}") == 0
    assert len(limiter) == 0
    for i in range(1000):
        clock.now += 0.001
        limiter.failed(f"10.0.{i // 256}.{i % 256}", None)  # an unknown name counts for the address only
    assert len(limiter) == 100
    # the most recently failed stay
    limiter.failed("10.0.3.231", None)
    limiter.failed("10.0.3.231", None)
    assert limiter.retry_after("10.0.3.231", "x") > 0


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers, "path": "/login"})


def test_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    assert client_address(request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"
    assert client_address(request("198.51.100.1", "203.0.113.9"), ["127.0.0.1"]) == "198.51.100.1"
    trusted = ["127.0.0.1"]
    assert client_address(request("127.0.0.1", "203.0.113.9"), trusted) == "203.0.113.9"
    # what the client wrote to the left of what the proxy appended is ignored
    assert client_address(request("127.0.0.1", "1.2.3.4, 203.0.113.9"), trusted) == "203.0.113.9"
    # a chain of trusted proxies is walked from the right
    two = ["127.0.0.1", "10.0.0.5"]
    assert client_address(request("127.0.0.1", "203.0.113.9, 10.0.0.5"), two) == "203.0.113.9"
    assert client_address(request("127.0.0.1", "garbage"), trusted) == "127.0.0.1"
    # IPv6 clients count by their /64
    assert (
        client_address(request("2001:db8::1")) == client_address(request("2001:db8::ffff")) == "2001:db8::/64"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/routes", "/routes"),
        ("/deliveries?state=dead&route=a", "/deliveries?state=dead&route=a"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/x\x00", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
        ("/" + "a" * 5000, "/"),
    ],
)
def test_safe_path_keeps_a_form_inside_the_console(target: str | None, expected: str) -> None:
    assert safe_path(target) == expected


def test_the_secret_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IU_CORE_CONSOLE_SECRET", raising=False)
    assert read_secret(None) is None
    monkeypatch.setenv("IU_CORE_CONSOLE_SECRET", "e" * 32)
    assert read_secret(None) == "e" * 32
    key = tmp_path / "key"
    key.write_text("f" * 40 + "\n")
    assert read_secret(key) == "f" * 40  # the file wins, its line break dropped
    key.write_text("short")
    with pytest.raises(IuCoreError, match="too short"):
        read_secret(key)
    with pytest.raises(IuCoreError, match="cannot read"):
        read_secret(tmp_path / "missing")
