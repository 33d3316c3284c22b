"""The gateway's health, reported to the platform (``POST /api/gateway-status``) every couple of
seconds: alarms waiting in the outbox and since when, the ingest worker's progress, the broker
connection. The platform keeps the last report with the time it was heard, and its wall shows a
banner when alarms wait, the worker stalls, or the gateway falls silent (a gateway whose
credential the platform refuses cannot report: silence covers it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from gongzhi.gateway.periodic_report import PeriodicReport
from gongzhi.gateway.platform_client import PlatformClient, PlatformUnreachable

log = logging.getLogger(__name__)

GATEWAY_STATUS_PATH = "/api/gateway-status"
REPORT_S = 2.0


class StatusReporter(PeriodicReport):
    name = "gateway-status"
    at_start = True

    def __init__(self, client: PlatformClient, report: Callable[[], dict[str, Any]], *,
                 interval_s: float = REPORT_S) -> None:
        super().__init__(interval_s)
        self._client = client
        self._report = report
        self.last_answer: int | None = None  # HTTP status of the last report; 0: no answer

    def report_once(self) -> int:
        """Send one report; returns the HTTP status (0 when the platform did not answer)."""
        try:
            status, text = self._client.post(GATEWAY_STATUS_PATH, orjson.dumps(self._report()))
        except PlatformUnreachable:
            status, text = 0, "no answer"
        if status != self.last_answer and not 200 <= status < 300 and status not in (401, 403):
            # 401/403 are logged by the client once per change; others once per kind here.
            log.warning("gateway status not taken by the platform: %s %s", status or "",
                        text[:200])
        self.last_answer = status
        return status
