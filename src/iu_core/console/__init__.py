"""The operator console: a small web application over the operator service layer.

``iu-core console`` serves it with uvicorn; :func:`create_app` builds it.
"""

from __future__ import annotations

from iu_core.console.app import ConsoleConfig
from iu_core.console.asgi import create_app

__all__ = ["ConsoleConfig", "create_app"]
