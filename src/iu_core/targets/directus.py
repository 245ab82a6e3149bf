"""The ``directus_flow`` target: triggers a Directus flow through its webhook trigger.

``target_ref`` is the flow's trigger URL exactly as Directus shows it::

    http://127.0.0.1:8055/flows/trigger/8d6f2c1e-…-uuid

(``<base URL, optionally with a path prefix>/flows/trigger/<flow uuid>``).
The event body is the same ``{"id","type","timestamp","data"}`` as for
webhooks, with ``webhook-id`` (the idempotency key) so a flow can dedupe,
and ``Authorization: Bearer <the route's access token>`` (set with
``iu-core route token set ROUTE``).

Make the flow report failure. Directus (checked on 12.4.0) answers a
webhook trigger with 200 even when the flow's operation fails, unless the
flow's options say ``"async": false, "error_on_reject": true``: then a
rejected last operation comes back as its error's status (a failed
item-create: 403 or 400; a "Throw Error" operation: the status it names).
An ``async`` flow answers at once, so "sent" then means only "accepted".

The request and the status rule are built in ``targets/http/sender.py``
(``RoutePlan``, ``directus_status``), the one place the worker and
``deliver`` share. Classification is the endpoint's (2xx sent, 5xx/408/429/timeouts retryable,
410 disables, 3xx never followed) with one deliberate difference: 401, 403
and 404 are RETRYABLE here. What Directus 12.4.0 answers: 401 for an
invalid or expired token; 403 for a flow that is inactive or does not exist
(and for an operation refused by permissions); 404 when the URL prefix is
wrong. These are configuration an operator repairs (``route token set``,
re-activating the flow, ``route set --target-ref``) while the event itself is
fine. Flows have no retries of their own, so IU Core's retries are the
user's safety net: retrying through such a window loses nothing, and if it
lasts longer than the route's max_attempts the worker dead-letters the
event, to be replayed once it is fixed. Other 4xx (a flow rejecting the
payload, e.g. 400 validation) stay permanent.
"""

from __future__ import annotations

from iu_core.targets.base import HttpTarget
from iu_core.targets.http.sender import directus_status, parse_flow_ref

__all__ = ["DirectusFlowTarget", "directus_status", "parse_flow_ref"]


class DirectusFlowTarget(HttpTarget):
    """POSTs the event to a Directus flow's webhook trigger with the route's bearer token."""

    target_kind = "directus_flow"
