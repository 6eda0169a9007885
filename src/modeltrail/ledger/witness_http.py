"""The witness's HTTP endpoint: ``POST /add-checkpoint`` as C2SP tlog-witness defines it.

Standard-library HTTP server on purpose: the witness is meant to run alone, as another user, with nothing
of the trail installed but this package; one small request per checkpoint needs no framework.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import ProofError, SignatureError, ValidationError
from .witness import UnknownLogError, Witness, WitnessConflict

MAX_BODY = 1 << 20


def _handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                self._send(404, b"not found\n")
                return
            try:
                n = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_BODY:
                self._send(413 if n > MAX_BODY else 411, b"a Content-Length up to 1 MiB is required\n")
                return
            body = self.rfile.read(n)
            try:
                line = witness.add_checkpoint(body)
            except WitnessConflict as exc:
                self._send(409, f"{exc.size}\n".encode(), "text/x.tlog.size")
            except UnknownLogError as exc:
                self._send(404, f"{exc}\n".encode())
            except SignatureError as exc:
                self._send(403, f"{exc}\n".encode())
            except ProofError as exc:
                self._send(422, f"{exc}\n".encode())
            except ValidationError as exc:
                self._send(400, f"{exc}\n".encode())
            else:
                self._send(200, line.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests carry nothing secret, but the operator's terminal is not a log

    return Handler


def make_server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    """A server for ``witness`` bound to ``host:port`` (port 0: any free port)."""
    return ThreadingHTTPServer((host, port), _handler(witness))


def serve(witness: Witness, host: str, port: int) -> None:
    """Serve until interrupted."""
    srv = make_server(witness, host, port)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


__all__ = ["MAX_BODY", "make_server", "serve"]
