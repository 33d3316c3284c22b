"""The platform's FastAPI application. ``create_app`` does no I/O: files are read, the store
opened and migrated, and the background tasks started in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gongzhi.core.clock import Clock, SystemClock
from gongzhi.core.errors import (
    AccessDenied,
    IllegalTransition,
    RejectedMessage,
    StoreUnavailable,
    TicketNotFound,
)
from gongzhi.core.settings import Settings
from gongzhi.devices.registry_watch import RegistryWatch
from gongzhi.hub.asgi_middleware import HttpMiddleware
from gongzhi.hub.auth_limit import DEFAULT_LIMIT as AUTH_LIMIT
from gongzhi.hub.auth_limit import AuthFailureLimiter
from gongzhi.hub.away_store import LEGACY_FILE, AbsenceEnds, import_legacy
from gongzhi.hub.body_limit import BodyLimit
from gongzhi.hub.deps import Hub
from gongzhi.hub.duty_parse import load_matrix
from gongzhi.hub.escalator import Escalator
from gongzhi.hub.feed import EventFeed
from gongzhi.hub.json_body import JsonBodyGuard
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.notify.config import load_notify
from gongzhi.hub.notify.renotify_task import Renotifier
from gongzhi.hub.notify.roster_desk import build_desk
from gongzhi.hub.notify.service import NotifyDelivery, signed_links
from gongzhi.hub.notify.windows_store import SqlWindows
from gongzhi.hub.openapi_guards import declare_guard_answers
from gongzhi.hub.operations import OperationsBoard, database_monitor
from gongzhi.hub.query_params import one_value_each
from gongzhi.hub.routes import ROUTERS
from gongzhi.hub.security_headers import SecurityHeaders
from gongzhi.hub.service import TicketService
from gongzhi.hub.store import open_store
from gongzhi.hub.store.gate import MigratedStore, Migrator, unreachable_message
from gongzhi.hub.tokens import load_tokens
from gongzhi.hub.webhooks import WebhookSender

log = logging.getLogger(__name__)


def build_hub(settings: Settings, clock: Clock, *, escalation_interval_s: float,
              keepalive_s: float, poll_s: float, auth_failure_limit: int = AUTH_LIMIT) -> Hub:
    """Read the configuration (blocking; run off the event loop). The store is opened and
    migrated by the lifespan."""
    tokens = load_tokens(settings.tokens_path, settings.gateway_token)
    matrix = load_matrix(settings.duty_matrix)
    registry = RegistryWatch(settings.registry_path, clock)
    registry.load()
    # Migrated by the lifespan: a database that is not there yet does not stop the platform.
    # Once migrated, the declared absences of an earlier release's file are taken in.
    legacy_absences = settings.data_dir / LEGACY_FILE
    store = MigratedStore(open_store(settings.database), settings.database,
                          prepare=lambda inner: import_legacy(inner, legacy_absences,
                                                              clock.now_ms()))
    metrics = Metrics()
    service = TicketService(store, matrix, registry, clock, metrics)
    return Hub(
        tokens=tokens, registry=registry, store=store, service=service,
        feed=EventFeed(store, poll_s=poll_s),
        escalator=Escalator(service, escalation_interval_s),
        webhooks=WebhookSender(store, matrix, clock, metrics),
        metrics=metrics, clock=clock, keepalive_s=keepalive_s,
        auth_limiter=AuthFailureLimiter(clock, limit=auth_failure_limit),
    )


class RequestCounter(HttpMiddleware):
    """Counts requests by method, route template and status (pure ASGI: safe for streams)."""

    def __init__(self, app: ASGIApp,
                 metrics: Callable[[], Metrics | None]) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            metrics = self.metrics()
            route = scope.get("route")
            if metrics is not None:
                metrics.inc("gongzhi_http_requests_total", method=scope["method"],
                            route=getattr(route, "path", "unmatched"), status=str(status[0]))


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # One line, no traceback: an outage of the database is an operating condition, and the
    # gateway retries what it is refused with 503.
    log.warning("ticket store unavailable: %s", exc)
    return JSONResponse({"detail": "the ticket store is unavailable; retry later"},
                        status_code=503, headers={"Retry-After": "1"})


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation answer, with the offending input left out: it may be large (an
    alarm's evidence), and what the caller sent is theirs already."""
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def _error(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handler


def create_app(settings: Settings, clock: Clock | None = None, *,
               background: bool = True, escalation_interval_s: float = 1.0,
               keepalive_s: float = 15.0, poll_s: float = 0.2,
               auth_failure_limit: int = AUTH_LIMIT) -> FastAPI:
    """The platform. ``background=False`` leaves escalation and webhooks to explicit
    ``app.state.escalator.run_once()`` / ``app.state.webhooks.run_once()`` calls;
    ``auth_failure_limit`` is the failed authentications per address and minute."""
    used_clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = await to_thread.run_sync(lambda: build_hub(
            settings, used_clock, escalation_interval_s=escalation_interval_s,
            keepalive_s=keepalive_s, poll_s=poll_s, auth_failure_limit=auth_failure_limit))
        app.state.hub = hub
        app.state.duty_desk = await to_thread.run_sync(
            lambda: build_desk(settings, SqlWindows(hub.store)))
        desk = app.state.duty_desk
        notify_config = await to_thread.run_sync(lambda: load_notify(settings.notify))
        notify = NotifyDelivery(
            hub.store, notify_config, used_clock, signed_links(desk.links),
            timezone=desk.rosters.timezone,
            observe=lambda kind, result: hub.metrics.inc(
                "gongzhi_notify_requests_total", channel=kind, result=result))
        app.state.notify = notify  # .queue: the jobs of a re-notification attempt
        # Re-notification of unacknowledged tickets, through the delivery layer's queue.
        renotifier = Renotifier(hub.store, desk, used_clock, notify.queue,
                                interval_s=escalation_interval_s, metrics=hub.metrics)
        app.state.renotifier = renotifier
        # Held welfare alarms still active when their declared absence ends make their tickets.
        absence_ends = AbsenceEnds(hub.store, hub.service.receive_alarm, used_clock,
                                   escalation_interval_s)
        app.state.absence_ends = absence_ends
        app.state.escalator = hub.escalator
        app.state.webhooks = hub.webhooks
        app.state.service = hub.service
        app.state.operations = OperationsBoard(used_clock)
        monitor = database_monitor(app.state.operations, hub.store.ping)

        async def serve_tickets() -> None:
            await hub.feed.start()
            if background:
                hub.escalator.start()
                absence_ends.start()
                hub.webhooks.start()
                notify.start()
                if settings.rosters is not None:
                    renotifier.start()

        store = hub.store
        assert isinstance(store, MigratedStore)
        migrator = Migrator(store, serve_tickets)
        try:
            try:
                await to_thread.run_sync(store.migrate)
            except StoreUnavailable as exc:
                # Not fatal: pages, /readyz (503) and the wall's banner say so, and the
                # schema is put in place as soon as the database answers.
                app.state.operations.database_checked(False, unreachable_message(
                    store.url, exc, migrator.first_retry_s))
                migrator.start()
            else:
                await serve_tickets()
            monitor.start()
            yield
        finally:
            await migrator.stop()
            await monitor.stop()
            await hub.escalator.stop()
            await absence_ends.stop()
            await hub.webhooks.stop()
            await renotifier.stop()
            await notify.stop()
            await hub.feed.stop()
            hub.store.close()

    app = FastAPI(
        title="Gongzhi platform",
        summary="Co-governance tickets for residential estates: alarms in, the duty matrix "
                "routes them to the parties of the 1+6 model, deadlines escalate them.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs from local assets
        redoc_url=None,
        dependencies=[Depends(one_value_each)],  # ?kind=a&kind=b is refused, not half read
    )
    app.state.settings = settings  # page-data routes (trends) find the telemetry store from it
    for router in ROUTERS:
        app.include_router(router)
    declare_guard_answers(app)
    app.add_exception_handler(TicketNotFound, _error(404))
    app.add_exception_handler(IllegalTransition, _error(409))
    app.add_exception_handler(AccessDenied, _error(403))
    app.add_exception_handler(RejectedMessage, _error(422))
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(RequestValidationError, _invalid)
    # Outermost last: every answer gets the security headers, and requests refused for their
    # size are counted like any other; a body is checked for what cannot be kept once its size
    # is known to be bounded.
    app.add_middleware(JsonBodyGuard)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestCounter,
                       metrics=lambda: getattr(getattr(app.state, "hub", None), "metrics", None))
    app.add_middleware(SecurityHeaders)
    return app
