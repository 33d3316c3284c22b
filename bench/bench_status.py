"""Status server and metrics benchmark: what the gateway's status port and its counters cost.

- ``status_start_ms`` / ``status_stop_ms``: ``StatusServer.start()`` (bind, serve) and
  ``stop()`` with a keep-alive client connected (what a Prometheus scraper leaves open);
- ``status_metrics_ms`` / ``status_healthz_ms``: one GET over a keep-alive connection (the
  endpoints answer at once, so this is the server's own cost), median and p99 of 300;
- ``counter_inc_ns`` / ``labelled_counter_inc_ns``: one ``GatewayMetrics.inc`` (the ingest
  worker makes about a dozen per batch);
- ``metrics_render_ms``: the gateway's whole ``/metrics`` text;
- ``status_import_ms``: importing the status server in a fresh interpreter.

Each figure is the median of 5 runs, with min, max and every run. Prints one JSON object per
line. Runs in about half a minute.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.status_http import StatusEndpoints, StatusServer

RUNS = 5


def emit(name: str, runs: list[float], unit: str, **extra: Any) -> None:
    print(json.dumps({"name": name, "value": round(statistics.median(runs), 4), "unit": unit,
                      "min": round(min(runs), 4), "max": round(max(runs), 4),
                      "runs": [round(r, 4) for r in runs], **extra}), flush=True)


def endpoints(metrics: GatewayMetrics) -> StatusEndpoints:
    return StatusEndpoints(metrics=metrics.render,
                           health=lambda: {"status": "ok", "mqtt_connected": True},
                           dead_letters=lambda _limit, _reason: [], dead_alarms=lambda _: [])


def start_stop(metrics: GatewayMetrics) -> tuple[float, float]:
    server = StatusServer("127.0.0.1", 0, endpoints(metrics))
    began = time.perf_counter()
    server.start()
    started = time.perf_counter() - began
    with httpx.Client() as client:
        client.get(f"http://127.0.0.1:{server.port}/healthz")
        began = time.perf_counter()
        server.stop()
        stopped = time.perf_counter() - began
    return started * 1000, stopped * 1000


def latencies(server: StatusServer, path: str, count: int = 300) -> list[float]:
    out = []
    with httpx.Client() as client:
        for _ in range(count):
            began = time.perf_counter()
            client.get(f"http://127.0.0.1:{server.port}{path}").raise_for_status()
            out.append((time.perf_counter() - began) * 1000)
    return sorted(out)


def per_call_ns(action: Callable[[], None], count: int = 200_000) -> float:
    began = time.perf_counter_ns()
    for _ in range(count):
        action()
    return (time.perf_counter_ns() - began) / count


def import_ms() -> float:
    code = ("import time; t = time.perf_counter(); import gongzhi.gateway.status_http; "
            "print((time.perf_counter() - t) * 1000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ.copy())
    return float(out.stdout)


def main() -> None:
    metrics = GatewayMetrics()
    metrics.gauge("queue_depth", "messages waiting", lambda: 7)
    starts, stops = zip(*(start_stop(metrics) for _ in range(RUNS)), strict=True)
    emit("status_start_ms", list(starts), "ms")
    emit("status_stop_ms", list(stops), "ms", note="a keep-alive client connected")
    server = StatusServer("127.0.0.1", 0, endpoints(metrics))
    server.start()
    try:
        for path, name in (("/metrics", "status_metrics_ms"), ("/healthz", "status_healthz_ms")):
            rounds = [latencies(server, path) for _ in range(RUNS)]
            emit(name, [statistics.median(r) for r in rounds], "ms",
                 p99=[round(r[int(len(r) * 0.99)], 3) for r in rounds])
    finally:
        server.stop()
    emit("counter_inc_ns", [per_call_ns(lambda: metrics.inc("duplicates_total"))
                            for _ in range(RUNS)], "ns")
    emit("labelled_counter_inc_ns",
         [per_call_ns(lambda: metrics.inc("messages_rejected_total", reason="not_json"))
          for _ in range(RUNS)], "ns")
    emit("metrics_render_ms", [per_call_ns(metrics.render, 2_000) / 1e6 for _ in range(RUNS)],
         "ms")
    emit("status_import_ms", [import_ms() for _ in range(RUNS)], "ms")
    print(json.dumps({"name": "load_average_1m", "value": os.getloadavg()[0], "unit": ""}))


if __name__ == "__main__":
    main()
