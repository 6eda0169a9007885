"""The HTTP/1.1 protocol ``modeltrail serve`` runs: uvicorn's h11 protocol with a header timeout.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but it waits without
limit for the request line and headers of a new connection: a client that sends one byte a minute holds a
connection (and its memory) forever. Here every connection must complete its request head within
:data:`HEADER_TIMEOUT` seconds of connecting, or of the previous response; the head's size is bounded by
h11's ``max_incomplete_event_size`` (``modeltrail serve`` sets 64 KiB).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
"""Seconds a connection may take to send its request line and headers."""
MAX_HEAD_BYTES = 64 * 1024
"""Largest request line plus headers (h11 answers 400 beyond it)."""
KEEP_ALIVE_TIMEOUT = 5
"""Seconds an idle keep-alive connection stays open (uvicorn's ``timeout_keep_alive``)."""


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request head does not arrive in time."""

    header_timeout: float = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection and start the clock for its first request head."""
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._awaiting = self.cycle
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        """Feed h11; once a new request's head is complete (a new cycle), stop the clock."""
        super().data_received(data)
        if self.cycle is not None and self.cycle is not getattr(self, "_awaiting", None):
            self._disarm()

    def on_response_complete(self) -> None:
        """After a response the next request head has the same time limit."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """The limits ``modeltrail serve`` passes to ``uvicorn.run`` (documented in the HTTP guide)."""
    return {
        "http": HeaderTimeoutProtocol,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }


__all__ = ["HEADER_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "MAX_HEAD_BYTES", "HeaderTimeoutProtocol", "uvicorn_options"]
