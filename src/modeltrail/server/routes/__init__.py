"""The API's routes, one router per area; :func:`modeltrail.server.create_app` includes them all."""

from .events import router as events
from .health import router as health
from .ledger import router as ledger
from .oversight import router as oversight
from .serving import router as serving

ROUTERS = (health, events, ledger, serving, oversight)

__all__ = ["ROUTERS"]
