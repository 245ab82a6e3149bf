"""Is this text an HTTP URL IU Core may POST to? A pure check, made before a route is written.

The address policy (private, loopback, link-local) is judged at delivery
time, on the resolved address; this check refuses what can never be right:
another scheme, no host, credentials in the URL, a port outside 1-65535
(Python's parser would otherwise wrap 99999 to another port), and control
characters, CR/LF or spaces that could split a request line.
"""

from __future__ import annotations

import urllib.parse


def url_problem(url: str) -> str | None:
    """None when ``url`` is a well-formed http(s) URL, else why not (one line)."""
    if not url:
        return "the URL is empty"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "the URL holds a space, a control character or a line break"
    if not url.isascii():
        return "the URL holds non-ASCII characters (write the host in its xn-- form and escape the path)"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return f"the URL cannot be parsed ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"the URL's scheme must be http or https, not {parts.scheme or 'none'!r}"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL holds credentials: use route secret rotate or route token set instead"
    port_text = parts.netloc.rpartition("@")[2]
    if port_text.startswith("["):
        port_text = port_text.partition("]")[2]
    if ":" in port_text:
        digits = port_text.rsplit(":", 1)[1]
        if not digits.isdigit() or not 1 <= int(digits) <= 65535:
            return f"the URL's port must be a number from 1 to 65535, not {digits!r}"
    if parts.fragment:
        return "the URL has a #fragment, which is never sent"
    return None
