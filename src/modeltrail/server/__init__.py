"""The HTTP API (``[server]`` extra): :func:`create_app` builds the ASGI application.

Routes live in :mod:`modeltrail.server.routes` (one router per area), the state they share in
:class:`~modeltrail.server.state.AppState`, the typed dependencies in :mod:`modeltrail.server.deps`
and the error responses in :mod:`modeltrail.server.errors` (statuses from the error classes)::

    >>> import modeltrail, tempfile
    >>> from fastapi.testclient import TestClient
    >>> folder = tempfile.mkdtemp()
    >>> modeltrail.init(folder).close()
    >>> client = TestClient(create_app(folder))
    >>> client.get("/v1/health").json()["size"]
    1
    >>> r = client.get("/v1/events")  # every other route needs a token (`modeltrail token create`)
    >>> r.status_code, r.json()["error"]
    (401, 'authentication required: missing bearer token')
"""

from .app import create_app, fastapi_app

__all__ = ["create_app", "fastapi_app"]
