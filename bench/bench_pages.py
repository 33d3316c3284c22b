"""Pages benchmark: the alarm wall in headless Debian chromium against the real platform (uvicorn,
SQLite) with 1,000 open tickets.

- ``wall_load_1000_ms``: sign-in to the whole list rendered (snapshot of 1,000 tickets, map, queue).
- ``wall_alarm_to_screen_p50_ms`` / ``_p95_ms`` (20 critical alarms): from just before
  ``POST /api/alarms`` to the page having drawn it (server push, one render per frame).
- While about 100 ticket updates a second stream in for 5 s: ``wall_updates_per_s`` (received by
  the page), ``wall_frame_interval_p95_ms`` (time between animation frames: the page stays
  smooth when it is near 16.7 ms), ``wall_long_tasks`` (main-thread tasks over 50 ms) and
  ``wall_renders_per_update`` (below 1: updates are batched per frame) and
  ``wall_main_thread_busy_pct`` (the page's own cost, independent of the machine's other load).

Prints one JSON object per line. Runs in well under a minute.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from gongzhi.core.alarms import AlarmKind  # noqa: E402
from tests.pages.pages_support import (  # noqa: E402  (the page tests' platform harness)
    CHROMIUM,
    CHROMIUM_ARGS,
    WALL_SIZE,
    estate_registry,
    make_platform,
)

TICKETS = 1000
KINDS = (AlarmKind.LOW_BATTERY, AlarmKind.SENSOR_FAULT, AlarmKind.DEVICE_OFFLINE,
         AlarmKind.ELECTRICAL_LEAKAGE, AlarmKind.TAMPER, AlarmKind.CABLE_OVERHEAT,
         AlarmKind.OVERCURRENT, AlarmKind.VOLTAGE_ABNORMAL, AlarmKind.ARC_FAULT,
         AlarmKind.EBIKE_CHARGING, AlarmKind.WATER_PRESSURE_LOW, AlarmKind.WATER_PRESSURE_HIGH)
UPDATE_RATE = 100
UPDATE_SECONDS = 5
SENDERS = 4  # concurrent API clients (one alarm takes a few ms to tens of ms to store)

FRAME_PROBE = """() => {
  const probe = { intervals: [], longTasks: 0, last: performance.now(), on: true };
  const tick = (t) => { probe.intervals.push(t - probe.last); probe.last = t;
    if (probe.on) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => { probe.longTasks += list.getEntries().length; })
    .observe({ type: "longtask" });
  return probe;
}"""


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, **context}),
          flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main_thread_seconds(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        platform = make_platform(Path(tmp) / "platform")
        platform.start()
        try:
            run(platform)
        finally:
            platform.close()


def run(platform: Any) -> None:
    devices = [r.device_id for r in estate_registry()]
    pairs = list(itertools.islice(itertools.product(KINDS, devices), TICKETS))
    for kind, device in pairs:
        platform.raise_alarm(kind, device)
    # The machine's load says how much CPU the browser could have: frame figures depend on it.
    context = {"tickets": TICKETS, "browser": "chromium-headless",
               "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=WALL_SIZE).new_page()
            page.goto(f"{platform.url}/")
            page.locator("#signin-token").fill(platform.tokens["property_office"])
            start = time.perf_counter()
            page.locator("#signin-form button[type=submit]").click()
            page.wait_for_selector(f"#queue-counts[data-total='{TICKETS}']", timeout=60_000)
            emit("wall_load_1000_ms", (time.perf_counter() - start) * 1000, "ms", **context)

            latencies = []
            smoke = [d for d in devices if d.startswith("smk-")]
            for n, device in enumerate(smoke[:20], start=1):
                before = time.perf_counter()
                platform.raise_alarm(AlarmKind.SMOKE_ALARM, device)
                # The counts above the queue are drawn in the same frame as the rows.
                page.wait_for_selector(f"#queue-counts[data-total='{TICKETS + n}']",
                                       state="attached", timeout=10_000)
                latencies.append((time.perf_counter() - before) * 1000)
            emit("wall_alarm_to_screen_p50_ms", statistics.median(latencies), "ms",
                 alarms=len(latencies), **context)
            emit("wall_alarm_to_screen_p95_ms", percentile(latencies, 0.95), "ms",
                 alarms=len(latencies), **context)

            updates(page, platform, pairs, context)
        finally:
            browser.close()


def updates(page: Any, platform: Any, pairs: list[tuple[AlarmKind, str]],
            context: dict[str, Any]) -> None:
    """Repeat open anomalies at about UPDATE_RATE a second (each one a ticket update)."""
    body = page.locator("body")
    events_before = int(body.get_attribute("data-events") or 0)
    renders_before = int(body.get_attribute("data-renders") or 0)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    busy_before = main_thread_seconds(cdp)
    probe = page.evaluate_handle(FRAME_PROBE)
    sent = 0
    lock = threading.Lock()
    todo = itertools.cycle(pairs)
    began = time.perf_counter()

    def send() -> None:
        """Paced senders: together they keep to UPDATE_RATE a second."""
        nonlocal sent
        while (elapsed := time.perf_counter() - began) < UPDATE_SECONDS:
            with lock:
                due = sent < elapsed * UPDATE_RATE
                if due:
                    kind, device = next(todo)
                    sent += 1
            if due:
                platform.raise_alarm(kind, device)
            else:
                time.sleep(0.002)

    senders = [threading.Thread(target=send) for _ in range(SENDERS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    deadline = time.monotonic() + 10
    while int(body.get_attribute("data-events") or 0) - events_before < sent:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    took = time.perf_counter() - began
    busy = main_thread_seconds(cdp) - busy_before
    received = int(body.get_attribute("data-events") or 0) - events_before
    renders = int(body.get_attribute("data-renders") or 0) - renders_before
    intervals = probe.evaluate("p => { p.on = false; return p.intervals.slice(1); }")
    long_tasks = probe.evaluate("p => p.longTasks")
    emit("wall_updates_per_s", received / took, "updates/s", sent=sent, **context)
    emit("wall_frame_interval_p95_ms", percentile(intervals, 0.95), "ms",
         frames=len(intervals), **context)
    emit("wall_long_tasks", long_tasks, "tasks", seconds=round(took, 1), **context)
    # The page's own cost, whatever else the machine runs: its main thread's busy share.
    emit("wall_main_thread_busy_pct", 100 * busy / took, "%", **context)
    emit("wall_renders_per_update", renders / max(1, received), "renders/update",
         renders=renders, **context)


if __name__ == "__main__":
    main()
