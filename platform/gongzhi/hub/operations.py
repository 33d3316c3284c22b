"""What the control room must be told about the system itself: alarms held up on their way to
the wall, or a part that has fallen silent. An empty wall must mean "no alarm", never "no news".

Each gateway reports its health every couple of seconds (``POST /api/gateway-status``); the
board keeps the last report per gateway with the time it was heard (this process's memory: a
restarted platform hears every gateway again within seconds). The platform's own database is
checked every ``STORE_CHECK_S`` by the monitor task. ``problems`` turns that into the banners
the wall shows:

- ``alarms_waiting``: a gateway holds alarms it could not deliver for ``WAITING_AFTER_MS`` or
  more (a moment in its outbox is normal);
- ``worker_stalled``: a gateway's ingest worker makes no progress while messages wait;
- ``broker_disconnected``: a gateway is not connected to the MQTT broker;
- ``gateway_silent``: a gateway not heard from for ``SILENT_AFTER_MS``, or none heard at all
  since the platform started (a gateway whose credential is refused cannot report either);
- ``gateway_problem``: what a gateway says it cannot do as it should (a device source down, the
  platform refusing its credential, its learned welfare days unreadable), one banner each, in
  the gateway's words (``detail``);
- ``database_unreachable``: the platform cannot reach its database.

Each change of the database's reachability is logged once, as an ERROR when it is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gongzhi.core.clock import Clock
from gongzhi.hub.periodic import PeriodicTask

log = logging.getLogger(__name__)

WAITING_AFTER_MS = 10_000  # the alarm transmission norm (GB 26875.1)
SILENT_AFTER_MS = 15_000  # gateways report every 2 s
STORE_CHECK_S = 2.0
EXPECTED_GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class GatewayReport:
    gateway_id: str
    heard_ms: int  # platform clock
    alarms_waiting: int
    oldest_waiting_age_ms: int | None  # gateway clock difference: no skew
    alarms_refused: int
    worker_alive: bool
    worker_stalled_ms: int
    mqtt_connected: bool
    queue_depth: int
    messages_rejected: int
    problems: tuple[str, ...] = ()  # in the gateway's words

    def public(self) -> dict[str, Any]:
        """The report as the API shows it: the waiting alarms' age turned into a time."""
        out = asdict(self)
        del out["oldest_waiting_age_ms"]
        out["problems"] = list(self.problems)
        out["waiting_since_ms"] = self.waiting_since_ms
        return out

    @property
    def waiting_since_ms(self) -> int | None:
        """When the oldest waiting alarm was queued, on the platform's clock."""
        if self.oldest_waiting_age_ms is None or self.alarms_waiting == 0:
            return None
        return self.heard_ms - self.oldest_waiting_age_ms


def _problem(kind: str, message: str, since_ms: int | None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, "since_ms": since_ms, **extra}


class OperationsBoard:
    """Thread-safe: reports arrive on request threads, the monitor runs on the event loop."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._started_ms = clock.now_ms()
        self._reports: dict[str, GatewayReport] = {}
        # When each gateway's problem was first heard, until a report no longer names it.
        self._problem_since: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self.database_reachable = True
        self.database_since_ms = self._started_ms

    def heard(self, report: GatewayReport) -> None:
        with self._lock:
            self._reports[report.gateway_id] = report
            before = self._problem_since.get(report.gateway_id, {})
            self._problem_since[report.gateway_id] = {
                text: before.get(text, report.heard_ms) for text in report.problems}

    def database_checked(self, reachable: bool, why: str | None = None) -> bool:
        """Record a check of the database; True (and one log line, ``why`` when it is lost and
        the caller knows more) when its state changed."""
        now = self._clock.now_ms()
        with self._lock:
            if reachable == self.database_reachable:
                return False
            since = self.database_since_ms
            self.database_reachable = reachable
            self.database_since_ms = now
        if reachable:
            log.warning("the platform reaches its database again (after %d s)",
                        (now - since) // 1000)
        else:
            log.error("%s", why or "the platform cannot reach its database: tickets cannot be "
                      "opened or changed; the gateways keep their alarms until it is back")
        return True

    def gateways(self) -> list[GatewayReport]:
        with self._lock:
            return sorted(self._reports.values(), key=lambda r: r.gateway_id)

    def problems(self) -> list[dict[str, Any]]:
        now = self._clock.now_ms()
        found: list[dict[str, Any]] = []
        if not self.database_reachable:
            found.append(_problem("database_unreachable", "the platform cannot reach its "
                                  "database", self.database_since_ms))
        with self._lock:
            reports = sorted(self._reports.values(), key=lambda r: r.gateway_id)
            problem_since = {gid: dict(texts) for gid, texts in self._problem_since.items()}
        if not reports and now - self._started_ms >= SILENT_AFTER_MS:
            found.append(_problem("gateway_silent", "no gateway has reported since the "
                                  "platform started", self._started_ms,
                                  gateway_id=EXPECTED_GATEWAY))
        for r in reports:
            gid = r.gateway_id
            if now - r.heard_ms >= SILENT_AFTER_MS:
                found.append(_problem("gateway_silent", f"gateway {gid} not heard from",
                                      r.heard_ms, gateway_id=gid))
            since = r.waiting_since_ms
            if since is not None and r.heard_ms - since >= WAITING_AFTER_MS:
                found.append(_problem("alarms_waiting", f"alarms are waiting at the gateway: "
                                      f"{r.alarms_waiting}", since, gateway_id=gid,
                                      count=r.alarms_waiting))
            if not r.worker_alive or r.worker_stalled_ms >= WAITING_AFTER_MS:
                stalled_since = r.heard_ms - r.worker_stalled_ms
                found.append(_problem("worker_stalled", f"gateway {gid} has stopped processing "
                                      f"device messages ({r.queue_depth} waiting)",
                                      stalled_since, gateway_id=gid))
            if not r.mqtt_connected:
                found.append(_problem("broker_disconnected", f"gateway {gid} is not connected "
                                      "to the broker", r.heard_ms, gateway_id=gid))
            since_of = problem_since.get(gid, {})
            found += [_problem("gateway_problem", f"gateway {gid}: {text}",
                               since_of.get(text, r.heard_ms), gateway_id=gid, detail=text)
                      for text in r.problems]
        return found

    def snapshot(self) -> dict[str, Any]:
        problems = self.problems()
        return {"ok": not problems, "now_ms": self._clock.now_ms(), "problems": problems,
                "database": {"reachable": self.database_reachable,
                             "since_ms": self.database_since_ms},
                "gateways": [r.public() for r in self.gateways()]}


def database_monitor(board: OperationsBoard, ping: Callable[[], bool], *,
                     interval_s: float = STORE_CHECK_S) -> PeriodicTask:
    """Pings the store every ``interval_s`` off the event loop and tells the board (a ping that
    raises is an unreachable store too)."""

    def check() -> None:
        try:
            reachable = bool(ping())
        except Exception:
            log.debug("database ping failed", exc_info=True)
            reachable = False
        board.database_checked(reachable)

    return PeriodicTask("gongzhi-database-monitor", check, interval_s)
