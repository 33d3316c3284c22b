"""The gateway's own small HTTP server: ``/metrics`` (Prometheus text), ``/healthz`` (the
worker runs), ``/readyz`` (and the MQTT subscription is in place, the worker makes progress and
the platform takes the gateway's credential: no ``problems``) and
``/dead-letters?limit=&reason=`` (recent refused messages as JSON), plus ``/dead-alarms`` (alarms
the platform refused for good). Standard library server on its own thread: it must keep
answering while the ingest worker is busy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

log = logging.getLogger(__name__)


class StatusEndpoints:
    """What the server shows; the service supplies the callables."""

    def __init__(self, *, metrics: Callable[[], str], health: Callable[[], dict[str, Any]],
                 dead_letters: Callable[[int, str | None], list[dict[str, Any]]],
                 dead_alarms: Callable[[int], list[dict[str, Any]]]) -> None:
        self.metrics = metrics
        self.health = health
        self.dead_letters = dead_letters
        self.dead_alarms = dead_alarms


class _Handler(BaseHTTPRequestHandler):
    endpoints: StatusEndpoints  # set on the subclass made per server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if url.path == "/metrics":
                self._send(200, self.endpoints.metrics().encode(),
                           "text/plain; version=0.0.4; charset=utf-8")
            elif url.path == "/healthz":
                health = self.endpoints.health()
                self._json(200 if health.get("status") == "ok" else 503, health)
            elif url.path == "/readyz":
                # Ready: alive and subscribed. Liveness alone says nothing of the broker; a
                # device message published before the subscription reaches no one.
                # A stalled worker or a refused credential is not ready either: alarms would
                # wait while everything looks fine.
                health = self.endpoints.health()
                ready = (health.get("status") == "ok" and bool(health.get("mqtt_connected"))
                         and not health.get("problems"))
                self._json(200 if ready else 503, {**health, "ready": ready})
            elif url.path == "/dead-letters":
                reason = query.get("reason", [None])[0]
                self._json(200, self.endpoints.dead_letters(_limit(query), reason))
            elif url.path == "/dead-alarms":
                self._json(200, self.endpoints.dead_alarms(_limit(query)))
            else:
                self._json(404, {"detail": "not found"})
        except ValueError as exc:
            self._json(400, {"detail": str(exc)})
        except Exception:
            log.exception("status endpoint %s failed", url.path)
            self._json(500, {"detail": "internal error"})

    def _json(self, status: int, body: Any) -> None:
        self._send(status, orjson.dumps(body), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def _limit(query: dict[str, list[str]]) -> int:
    raw = query.get("limit", ["100"])[0]
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise ValueError("limit must be an integer from 1 to 10000")
    return int(raw)


class StatusServer:
    def __init__(self, host: str, port: int, endpoints: StatusEndpoints) -> None:
        self._host = host
        self._port = port
        self._endpoints = endpoints
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return self._server.server_address[1] if self._server is not None else self._port

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"endpoints": self._endpoints})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name="gateway-http",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
