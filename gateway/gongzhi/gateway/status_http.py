"""The gateway's own small HTTP server: ``/metrics`` (Prometheus text), ``/healthz`` (the
worker runs), ``/readyz`` (and the MQTT subscription is in place, the worker makes progress and
the platform takes the gateway's credential: no ``problems``) and
``/dead-letters?limit=&reason=`` (recent refused messages as JSON), plus ``/dead-alarms`` (alarms
the platform refused for good).

Starlette on uvicorn, the platform's stack, in a thread with its own event loop
(``ThreadedAsgiServer``): it must keep answering while the ingest worker is busy. The
endpoints' callables block (a store read, the supervisor asking its workers), so each runs in
the server's thread pool, never on its event loop: a slow one does not hold up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gongzhi.core.asgi_thread import ThreadedAsgiServer
from gongzhi.core.exposition import CONTENT_TYPE

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


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise ValueError("limit must be an integer from 1 to 10000")
    return int(raw)


def _metrics(e: StatusEndpoints, _request: Request) -> Response:
    return Response(e.metrics().encode(), 200, media_type=CONTENT_TYPE)


def _healthz(e: StatusEndpoints, _request: Request) -> Response:
    health = e.health()
    return _json(200 if health.get("status") == "ok" else 503, health)


def _readyz(e: StatusEndpoints, _request: Request) -> Response:
    # Ready: alive and subscribed. Liveness alone says nothing of the broker; a device message
    # published before the subscription reaches no one. A stalled worker or a refused
    # credential is not ready either: alarms would wait while everything looks fine.
    health = e.health()
    ready = (health.get("status") == "ok" and bool(health.get("mqtt_connected"))
             and not health.get("problems"))
    return _json(200 if ready else 503, {**health, "ready": ready})


def _dead_letters(e: StatusEndpoints, request: Request) -> Response:
    return _json(200, e.dead_letters(_limit(request), request.query_params.get("reason")))


def _dead_alarms(e: StatusEndpoints, request: Request) -> Response:
    return _json(200, e.dead_alarms(_limit(request)))


Handler = Callable[[StatusEndpoints, Request], Response]

HANDLERS: dict[str, Handler] = {
    "/metrics": _metrics, "/healthz": _healthz, "/readyz": _readyz,
    "/dead-letters": _dead_letters, "/dead-alarms": _dead_alarms,
}


def _endpoint(endpoints: StatusEndpoints, path: str,
              handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        try:
            return await run_in_threadpool(handler, endpoints, request)
        except ValueError as exc:
            return _json(400, {"detail": str(exc)})
        except Exception:
            log.exception("status endpoint %s failed", path)
            return _json(500, {"detail": "internal error"})

    return answer


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return _json(404, {"detail": "not found"})


def status_app(endpoints: StatusEndpoints) -> Starlette:
    routes = [Route(path, _endpoint(endpoints, path, handler), methods=["GET"])
              for path, handler in HANDLERS.items()]
    return Starlette(routes=routes, exception_handlers={404: _not_found})


class StatusServer:
    """The status endpoints on ``host:port`` (0: a free port), from ``start`` to ``stop``."""

    def __init__(self, host: str, port: int, endpoints: StatusEndpoints) -> None:
        self._server = ThreadedAsgiServer(status_app(endpoints), host, port,
                                          name="gateway-http")

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return self._server.port

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
