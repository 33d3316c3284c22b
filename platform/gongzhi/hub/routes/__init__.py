"""The API's routers, included by ``gongzhi.hub.app`` in this order."""

from __future__ import annotations

from fastapi import APIRouter

from gongzhi.hub.routes import (
    alarm_batch,
    alarms,
    away,
    devices,
    docs,
    duty,
    health,
    layout,
    me,
    mobile,
    operations,
    pages,
    report_desk,
    reports,
    stats,
    stream,
    supervision,
    tickets,
    trends,
    visits,
    windows,
)

ROUTERS: list[APIRouter] = [
    health.router,
    docs.router,
    alarms.router,
    alarm_batch.router,
    tickets.router,
    devices.router,
    stream.router,
    me.router,
    operations.router,
    stats.router,
    duty.router,
    mobile.router,
    windows.router,
    reports.router,
    report_desk.router,
    away.router,
    visits.router,
    *(m.router for m in (pages, layout, trends, supervision)),
]
