"""``target_ref`` checks of the HTTP kinds, as the kind table (``iu_core.delivery.kinds``) names them.

Pure checks made before a route is written; the address policy is judged at
delivery time, on the resolved address.
"""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core.targets.url_check import url_problem

__all__ = ["endpoint_problem", "flow_problem"]

Conn = psycopg.Connection[Any]


def endpoint_problem(conn: Conn, ref: str) -> str | None:
    """An ``external_endpoint`` ref is an http(s) URL."""
    return url_problem(ref)


def flow_problem(conn: Conn, ref: str) -> str | None:
    """A ``directus_flow`` ref is a Directus flow trigger URL."""
    from iu_core.targets.directus import parse_flow_ref  # the HTTP stack: only for this kind

    problem = url_problem(ref)
    if problem is None and parse_flow_ref(ref) is None:
        problem = "a Directus flow trigger is https://HOST/flows/trigger/FLOW-UUID"
    return problem
