"""The reports' service of a running platform, made on first use from what the app's lifespan
built (the ticket service, the registry, the duty desk's link secret)."""

from __future__ import annotations

import threading

from fastapi import Request

from gongzhi.core.settings import Settings
from gongzhi.hub.deps import Hub
from gongzhi.hub.notify.links import load_or_create_secret
from gongzhi.hub.notify.roster_desk import DutyDesk
from gongzhi.hub.reports.limits import ReportLimiter
from gongzhi.hub.reports.links import ReportLinks
from gongzhi.hub.reports.service import ReportService
from gongzhi.hub.reports.store import SqlReports

_lock = threading.Lock()


def build_reports(settings: Settings, hub: Hub, desk: DutyDesk) -> ReportService:
    """Blocking (reads the link secret): the same secret as the duty desk's signed links, from
    which the report links derive keys of their own."""
    configured = desk.rosters.links.secret.reveal() if desk.rosters.links.secret else None
    secret = load_or_create_secret(settings.data_dir, configured)
    return ReportService(SqlReports(hub.store), hub.service,
                         ReportLinks(secret, settings.platform_url),
                         ReportLimiter(hub.store, hub.clock), hub.registry, hub.clock, hub.metrics)


def get_reports(request: Request) -> ReportService:
    state = request.app.state
    found: ReportService | None = getattr(state, "reports", None)
    if found is None:
        with _lock:
            found = getattr(state, "reports", None)
            if found is None:
                found = build_reports(state.settings, state.hub, state.duty_desk)
                state.reports = found
    return found
