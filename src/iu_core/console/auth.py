"""Who is asking: the session cookie, CSRF tokens and the login rate limit.

A session is a cookie signed with the console's secret (itsdangerous): it names
the user, the user's session epoch (migration 013) and the session's CSRF
token, and carries its own time, so it expires without any server-side store.
The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other
site's page sends it). Every state-changing request must also carry the
session's CSRF token, in the form field ``csrf`` or the ``X-CSRF-Token``
header: a forged request from elsewhere has neither the cookie nor the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "iu_core_session"
LOGIN_COOKIE = "iu_core_login"  # double-submit token of the login form (login CSRF)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    epoch: int
    csrf: str


@dataclass
class LoginLimiter:
    """At most ``max_failures`` failed logins per client address and per user name in ``window_s``.

    Kept in the console's memory: a restart forgets it, and each console
    process counts on its own. A refused attempt is not even checked, so
    guessing is bounded whatever the password's cost.

    Its memory is bounded whatever clients send: only a failed check of a
    password counts (a refused or malformed attempt adds nothing), a user
    name counts only when it is a console user's, a key is forgotten once its
    newest failure is older than the window, and at most ``max_keys`` keys are
    kept (the least recently failed go first).
    """

    max_failures: int = 5
    window_s: float = 300.0
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    # key -> times of its failures in the window; ordered by newest failure, oldest first
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._failures)

    def _expire(self, now: float) -> None:
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if times and times[-1] > now - self.window_s:
                break
            del self._failures[key]

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key) or deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, client: str, user: str) -> int:
        """Seconds until a login may be tried again (0: now). Adds no key."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            waits = [
                times[0] + self.window_s - now
                for key in (f"addr:{client}", f"user:{user}")
                if len(times := self._recent(key, now)) >= self.max_failures
            ]
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, client: str, user: str | None) -> None:
        """A password check failed: count it for the address, and for ``user`` when it is a real user."""
        now = self.clock()
        keys = [f"addr:{client}"] + ([f"user:{user}"] if user is not None else [])
        with self._lock:
            self._expire(now)
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures.pop(key, None)
                self._failures[key] = times  # now the most recently failed
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user}", None)


class SessionCodec:
    """Signs and reads session cookies; ``max_age_s`` is the session's life."""

    def __init__(self, secret: str, max_age_s: int, *, secure: bool = False) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="iu-core-console-session")
        self._login = URLSafeTimedSerializer(secret, salt="iu-core-console-login")
        self.max_age_s = max_age_s
        self.secure = secure

    def issue(self, response: Response, user: str, epoch: int) -> Session:
        session = Session(user, epoch, secrets.token_urlsafe(32))
        token = self._serializer.dumps({"u": user, "e": epoch, "c": session.csrf})
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.max_age_s,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )
        return session

    def read(self, request: Request) -> Session | None:
        """The request's session when its signature holds and it has not expired (epoch not yet checked)."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            data: Any = self._serializer.loads(token, max_age=self.max_age_s)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        user, epoch, csrf = data.get("u"), data.get("e"), data.get("c")
        if not (isinstance(user, str) and isinstance(epoch, int) and isinstance(csrf, str)):
            return None
        return Session(user, epoch, csrf)

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    # -- the login form's own token: a nonce in a cookie and, signed, in the form
    def login_token(self, request: Request) -> tuple[str, str]:
        """(nonce for the cookie, signed token for the form): both must come back with the login."""
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        return nonce, str(self._login.dumps(nonce))

    def set_login_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", secure=self.secure, path="/"
        )

    def login_nonce_ok(self, request: Request, form_token: str) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not nonce or not form_token:
            return False
        try:
            signed = self._login.loads(form_token, max_age=3600)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, nonce)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


def wants_page(request: Request) -> bool:
    """A browser navigating (redirect it to the login page) rather than htmx or a JSON client (401)."""
    if request.headers.get("hx-request") == "true":
        return False
    accept = request.headers.get("accept", "")
    return "application/json" not in accept and not request.url.path.startswith("/api/")


def client_address(request: Request, trusted_proxies: Iterable[str] = ()) -> str:
    """Who the login limit counts: the peer's address, or the client a trusted proxy names.

    ``X-Forwarded-For`` is read only when the peer itself is one of
    ``trusted_proxies``; then the client is the right-most address in it that
    is not a trusted proxy (what a client writes to the left is its own
    invention). IPv6 clients count by their /64, which one host usually holds.
    """
    peer = request.client.host if request.client else "unknown"
    trusted = set(trusted_proxies)
    client = peer
    if trusted and _ip(peer) in trusted:
        hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
        for hop in reversed([h for h in hops if h]):
            address = _ip(hop)
            if address is None:
                break  # not an address: trust nothing further to the left
            client = address
            if address not in trusted:
                break
    return _limit_key(client)


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _limit_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
