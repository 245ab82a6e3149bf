"""The one HTTP path of the HTTP targets: a keep-alive asyncio client, a per-route sender, a sync face.

``client.AsyncHttpClient`` posts over pooled HTTP/1.1 connections (``httptools``)
to checked addresses; ``sender.RoutePlan`` turns a route's settings into what
every delivery of the route shares (parsed URL, decoded signing keys, token,
timeouts) and ``sender.send`` delivers one event with it. The worker's
dispatcher runs them on its own event loop; ``sync.run`` runs the same
coroutine for synchronous callers (``deliver test``, ``HttpTarget.deliver``).
Import from the modules themselves: this package file imports nothing, so
``classify`` (which the sender uses) can name the client's result type.
"""
