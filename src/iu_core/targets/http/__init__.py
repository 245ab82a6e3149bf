"""The asyncio path of the HTTP targets: a keep-alive client and a per-route sender.

``client.AsyncHttpClient`` posts over pooled HTTP/1.1 connections to checked
addresses; ``sender.RoutePlan`` turns one claimed batch's route settings into
what every delivery of the batch shares (parsed URL, decoded signing keys,
token, timeouts) and ``sender.send`` delivers one event with it. The worker's
dispatcher runs them on one event loop per process.
"""

from iu_core.targets.http.client import AsyncHttpClient, Endpoint, parse_endpoint
from iu_core.targets.http.sender import HTTP_KINDS, RoutePlan, send

__all__ = ["HTTP_KINDS", "AsyncHttpClient", "Endpoint", "RoutePlan", "parse_endpoint", "send"]
