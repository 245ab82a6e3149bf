"""``GET /api/search``: the vector search for applications, over HTTP, token-authenticated.

    curl -H "Authorization: Bearer $TOKEN" \
         "http://127.0.0.1:8089/api/search?q=...&collection=law&iu=REG-EN&lang=any&limit=5"

Applications present a bearer token (one of the console's search tokens, read
from a file or the environment, never from the command line); without a
configured token the endpoint answers 401 to everyone: it is off until an
operator turns it on. The answer is the JSON of ``iu-core search --json``:
each hit's unit, piece, heading path, heading, score and snippet. The process
keeps its model loaded between requests, so a query costs its embedding and
the index scan, not a model load.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iu_core.console.app import Console
from iu_core.errors import IuCoreError, NotFound

__all__ = ["MAX_LIMIT", "search_endpoint", "token_matches"]

MAX_LIMIT = 100
_LANGUAGES = ("en", "vi", "any")


def token_matches(sent: str, tokens: tuple[str, ...]) -> bool:
    """True when ``Authorization`` carries one of ``tokens``; every token is compared, in constant time."""
    given = sent.removeprefix("Bearer ").encode() if sent.startswith("Bearer ") else b""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    return bool(given) and matched


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _query(request: Request) -> dict[str, Any] | str:
    """The search's arguments from the query string, or what is wrong with them."""
    params = request.query_params
    if any("\x00" in value for value in params.values()):
        return "a parameter holds a NUL byte"
    q = params.get("q", "").strip()
    if not q:
        return "q is required: the question to search for"
    lang = params.get("lang") or None
    if lang is not None and lang not in _LANGUAGES:
        return f"lang must be one of {', '.join(_LANGUAGES)}"
    try:
        limit = int(params.get("limit", "10"))
    except ValueError:
        return "limit must be a whole number"
    if not 1 <= limit <= MAX_LIMIT:
        return f"limit must be between 1 and {MAX_LIMIT}"
    return {
        "query": q,
        "collection": params.get("collection") or None,
        "iu_code": params.get("iu") or None,
        "lang": lang,
        "limit": limit,
    }


def _json(value: Any) -> Response:
    # Piece ids are UUIDs: written as strings, like ``iu-core search --json`` writes them.
    return Response(json.dumps(value, default=str, ensure_ascii=False), media_type="application/json")


async def search_endpoint(request: Request) -> Response:
    console: Console = request.app.state.console
    if not token_matches(request.headers.get("authorization", ""), console.config.search_tokens):
        return _error(401, "the search API needs 'Authorization: Bearer TOKEN' with a search token")
    args = _query(request)
    if isinstance(args, str):
        return _error(400, args)

    def run() -> dict[str, Any]:
        from iu_core import vector
        from iu_core.vector.search import search as search_pieces  # not vector.search: see cli/vector.py

        language = args["lang"]
        with console.pool.connection() as conn:
            result = search_pieces(
                conn,
                args["query"],
                collection=args["collection"],
                iu_code=args["iu_code"],
                language=vector.Language(language) if language in ("en", "vi") else language,
                limit=args["limit"],
            )
        return result.as_dict()

    try:
        return _json(await run_in_threadpool(run))
    except NotFound as exc:
        return _error(404, str(exc))
    except IuCoreError as exc:
        return _error(400, str(exc))
