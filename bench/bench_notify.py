"""Notification benchmark: a storm of 1,000 alarms in one simulated minute across four parties
(the property office on a WeCom robot, the police room on a DingTalk robot, the residents'
committee on a Feishu bot, each person with SMS behind; the owners' committee on a signed
webhook), through the delivery layer's outbox and dispatcher on SQLite, against local stand-ins
of the providers on loopback HTTP that check every request and answer over-limit requests as
the providers do. Time is an injected clock stepped by 250 ms (the dispatcher's interval).

Figures, each the median of ``ROUNDS`` storms (seeds 1..ROUNDS; min and max printed):

- ``notify_critical_p99_s``: from a critical alarm's arrival to the first message carrying its
  ticket that a provider took (goal: at most 10 s);
- ``notify_messages_per_channel_max_per_min``: the most messages a provider took in any
  60 s window, per channel (never above its limit: WeCom 20, DingTalk 20, Feishu 100), and the
  highest share of its limit any channel reached (``channel: max``);
- ``notify_dropped_critical``: critical tickets no message carried (goal: 0).

The same through the whole platform (``path: platform``): 1,000 alarms of the device kinds
posted to ``POST /api/alarms/batch`` over one simulated minute, routed by the shipped duty
matrix, each ticket's first notification planned by the rosters' re-notification task (every
second) and sent by the platform's dispatcher (every half second): ``notify_critical_p99_s``
from the ticket's opening, and the messages per robot.

Prints one JSON object per line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "notify"), str(ROOT)]

from notify_platform_storm import run_platform_storm  # noqa: E402  (the tests' storms)
from notify_providers import Providers, serve  # noqa: E402
from notify_storm import LIMITS_PER_MIN, StormResult, run_storm  # noqa: E402

from gongzhi.core.clock import ManualClock  # noqa: E402

ROUNDS = 3
ALARMS = 1000


def emit(name: str, values: list[float], unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(statistics.median(values), 3), "unit": unit,
                      "min": round(min(values), 3), "max": round(max(values), 3),
                      "runs": len(values), **context}, ensure_ascii=False), flush=True)


def p99(values: list[int]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / 1000


def main() -> None:
    print(json.dumps({"load_average": os.getloadavg(), "cores": os.cpu_count()}), flush=True)
    results: list[StormResult] = []
    walls: list[float] = []
    for seed in range(1, ROUNDS + 1):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            results.append(run_storm(Path(tmp) / "storm.db", count=ALARMS, seed=seed))
            walls.append(time.perf_counter() - started)
    context = {"alarms": ALARMS, "simulated_s": 60, "database": "sqlite"}
    emit("notify_critical_p99_s", [p99(list(r.critical_latency_ms.values())) for r in results],
         "s", goal="<= 10", critical_tickets=[len(r.critical_latency_ms) for r in results],
         **context)
    emit("notify_critical_max_s", [max(r.critical_latency_ms.values()) / 1000 for r in results],
         "s", **context)
    shares = []
    for channel, limit in LIMITS_PER_MIN.items():
        counts = [float(r.max_per_min[channel]) for r in results]
        shares.append(max(counts) / limit)
        emit("notify_messages_per_channel_max_per_min", counts, "messages/min",
             channel=channel, limit=limit, **context)
    for channel in ("webhook", "sms"):
        emit("notify_messages_per_channel_max_per_min",
             [float(r.max_per_min[channel]) for r in results], "messages/min", channel=channel,
             limit=None, **context)
    print(json.dumps({"name": "notify_messages_per_channel_max_per_min", "channel": "max",
                      "value": round(max(shares), 3), "unit": "share of the provider's limit",
                      "runs": len(results)}), flush=True)
    emit("notify_feishu_max_per_s", [float(r.max_per_s["feishu"]) for r in results],
         "messages/s", limit=5, **context)
    emit("notify_dropped_critical", [float(len(r.dropped_critical)) for r in results],
         "tickets", goal=0, **context)
    emit("notify_throttle_answers", [float(r.throttle_answers) for r in results], "answers",
         **context)
    emit("notify_messages", [float(r.messages) for r in results], "messages",
         digests=[r.digests for r in results], **context)
    emit("notify_storm_wall_s", walls, "s", **context)
    platform()


def platform() -> None:
    p99s: list[float] = []
    maxima: list[float] = []
    per_min: dict[str, list[float]] = {"wecom": [], "dingtalk": [], "feishu": []}
    stuck: list[float] = []
    for seed in range(1, ROUNDS + 1):
        providers = Providers(ManualClock())
        with tempfile.TemporaryDirectory() as tmp, serve(providers) as base:
            result = run_platform_storm(Path(tmp), base, providers, seed=seed)
        latencies = list(result.critical_latency_ms.values())
        p99s.append(p99(latencies))
        maxima.append(max(latencies) / 1000)
        stuck.append(float(len(result.stuck)))
        for channel in per_min:
            per_min[channel].append(float(providers.sent_in_window(channel, 60_000)))
    context = {"alarms": ALARMS, "simulated_s": 60, "database": "sqlite", "path": "platform"}
    emit("notify_critical_p99_s", p99s, "s", goal="<= 10", **context)
    emit("notify_critical_max_s", maxima, "s", **context)
    for channel, counts in per_min.items():
        emit("notify_messages_per_channel_max_per_min", counts, "messages/min",
             channel=channel, limit=LIMITS_PER_MIN[channel], **context)
    emit("notify_undelivered_jobs", stuck, "jobs", **context)


if __name__ == "__main__":
    main()
