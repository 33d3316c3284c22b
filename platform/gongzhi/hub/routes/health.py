"""Liveness and metrics (no token)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from gongzhi.hub.deps import HubDep
from gongzhi.hub.notify.outbox import backlog as notify_backlog

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"description": "the store does not answer"}})
async def healthz(hub: HubDep) -> JSONResponse:
    ok = await to_thread.run_sync(hub.store.ping)
    return JSONResponse({"status": "ok" if ok else "unavailable",
                         "store": hub.store.dialect_name}, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(hub: HubDep) -> PlainTextResponse:
    """Prometheus text format."""

    def gauges() -> list[tuple[str, dict[str, str], float]]:
        with hub.store.transaction(hub.clock.now_ms()) as tx:
            counts = tx.ticket_counts()
            backlog = tx.webhook_backlog()
            notify = notify_backlog(tx.connection)
        found: list[tuple[str, dict[str, str], float]] = [
            ("gongzhi_tickets", {"kind": k, "status": s}, float(n)) for k, s, n in counts]
        found.append(("gongzhi_webhook_backlog", {}, float(backlog)))
        found += [("gongzhi_notify_backlog", {"channel": c}, float(n)) for c, n in notify.items()]
        return found

    text = hub.metrics.render(await to_thread.run_sync(gauges))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
