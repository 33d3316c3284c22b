"""Server push: ``GET /api/stream`` (text/event-stream) with the bearer token in the header.

Each change of a ticket the caller may see is one event: ``id: <seq>`` (global, in commit
order, kept in the database), ``event: ticket``, ``data: <TicketPublic JSON>``. A client that
reconnects with ``Last-Event-ID`` first gets every later event it may see, then live ones; a
``: keepalive`` comment goes out every 15 s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from gongzhi.hub.deps import CurrentParty, HubDep
from gongzhi.hub.feed import BATCH, Overflow
from gongzhi.hub.privacy import can_see, public_ticket, shows_personal_data
from gongzhi.hub.store.records import AuditEntry, TicketEvent

router = APIRouter(prefix="/api", tags=["stream"])
# Event ids are the store's BIGINT sequence: 18 digits stay below its 2**63. Anything else is
# refused with 422 (blank means none).
EVENT_ID = r"^[ \t]*([0-9]{1,18})?[ \t]*$"


def frame(event: TicketEvent, party: str) -> str:
    data = json.dumps(public_ticket(event.ticket, party), separators=(",", ":"),
                      ensure_ascii=False)
    return f"id: {event.seq}\nevent: ticket\ndata: {data}\n\n"


async def _events(hub: HubDep, party: str, last_id: int | None) -> AsyncIterator[str]:
    feed = hub.feed
    sub = feed.subscribe()
    hub.metrics.inc("gongzhi_sse_clients")
    try:
        if last_id is not None:
            # An id from a database this one does not continue (reset, restored from an older
            # backup): start from now rather than wait for numbers that may never come.
            last_id = min(last_id, await feed.stored_last_seq())
        sent = sub.start_seq if last_id is None else last_id
        yield ": connected\n\n"  # lets clients see the stream is open at once
        if last_id is not None:
            while True:
                batch = await feed.replay(sent)
                for event in batch:
                    sent = event.seq
                    if can_see(event.ticket, party):
                        yield frame(event, party)
                if len(batch) < BATCH:
                    break
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), hub.keepalive_s)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if isinstance(item, Overflow):
                return  # too far behind: the client reconnects with Last-Event-ID
            if item.seq <= sent:
                continue
            sent = item.seq
            if can_see(item.ticket, party):
                yield frame(item, party)
    finally:
        feed.unsubscribe(sub)
        hub.metrics.inc("gongzhi_sse_clients", -1)


def resume_after(last_event_id: str) -> int | None:
    """The event id to resume after; None (start live) when the header is absent or blank."""
    text = last_event_id.strip(" \t")
    return int(text) if text else None


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "ticket events"}})
async def stream(hub: HubDep, party: CurrentParty,
                 last_event_id: Annotated[str, Header(
                     pattern=EVENT_ID, description="the id of the last event received: "
                     "later events are sent first; blank or absent: live events only")] = "",
                 ) -> StreamingResponse:
    """Live ticket changes for the caller's party (use fetch streaming, not EventSource, so the
    token stays in the Authorization header)."""
    last = resume_after(last_event_id)
    if shows_personal_data(party):
        now = hub.clock.now_ms()

        def audit() -> None:
            with hub.store.transaction(now) as tx:
                tx.audit(AuditEntry(now, party, "read", detail={"stream": True}))

        await to_thread.run_sync(audit)
    return StreamingResponse(_events(hub, party, last), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
