"""The console as an ASGI application: :func:`create_app` puts the URL table on the web core.

It is the only module that imports both ``app`` (the web core) and
``routes`` (the URL table), so the two never import each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from iu_core.console import routes
from iu_core.console.app import Console, ConsoleConfig, SecurityHeaders


def create_app(config: ConsoleConfig) -> Starlette:
    """The console as an ASGI application (``uvicorn`` serves it; tests drive it directly)."""
    console = Console(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        console.pool.open(wait=True, timeout=10)
        try:
            yield
        finally:
            console.pool.close()

    app = Starlette(routes=routes.table(console), lifespan=lifespan)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["create_app"]
