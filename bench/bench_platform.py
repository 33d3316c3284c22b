"""Platform benchmark: the real app behind uvicorn, on SQLite and on PostgreSQL (when the
machine's server answers).

- ``platform_alarm_ingest_per_s``: 1,000 distinct alarms through ``POST /api/alarms`` (8
  concurrent clients, 300 devices, each alarm a new ticket or an occurrence).
- ``platform_duplicate_ingest_per_s``: the same alarm delivered again (the idempotent path).
- ``platform_push_latency_p50_ms`` / ``_p99_ms`` (60 alarms): from the POST of an alarm to
  its ticket event on a party's server-push stream.
- ``platform_ticket_list_ms``: ``GET /api/tickets`` (500 newest visible) with the store full.
- ``platform_escalation_pass_ms``: one escalation pass when every ticket (about 300) is
  overdue.

Prints one JSON object per line. Runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens

POSTGRES = os.environ.get("GONGZHI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
KINDS = (AlarmKind.TAMPER, AlarmKind.ELECTRICAL_LEAKAGE, AlarmKind.WATER_PRESSURE_LOW,
         AlarmKind.LOW_BATTERY)


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, **context}),
          flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str | None]:
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except Exception:  # no server: the SQLite figures still stand
        yield None
        return
    name = f"gz_bench_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def serving(settings: Settings, clock: ManualClock) -> Iterator[tuple[str, Any]]:
    app = create_app(settings, clock, background=False, poll_s=0.05)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def registry(n: int) -> list[DeviceRecord]:
    return [DeviceRecord(f"d{i:04d}", DeviceType.ELECTRICAL,
                         Location("bench", f"B{i % 12}", "U1", str(i % 18), f"{i:04d}"),
                         household=f"H{i}", riser=f"R{i % 24}", phone="13812341234")
            for i in range(n)]


def alarm_body(i: int, devices: int, clock: ManualClock) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    return Alarm(f"bench-{i}", kind, f"d{i % devices:04d}", "bench", clock.now_ms() + i,
                 evidence={"rule": "bench"}).to_dict()


class Stream:
    """Reads ticket ids off a server-push stream, stamping when each arrived."""

    def __init__(self, url: str, token: str) -> None:
        self.arrived: queue.Queue[tuple[int, float]] = queue.Queue()
        self.open = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, token), daemon=True)
        self.thread.start()
        self.open.wait(10)

    def _run(self, url: str, token: str) -> None:
        with httpx.Client(timeout=30) as client, client.stream(
                "GET", f"{url}/api/stream", headers={"Authorization": f"Bearer {token}"}) as r:
            self.open.set()
            for line in r.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("data: "):
                    self.arrived.put((json.loads(line[6:])["occurrences"],
                                      time.perf_counter()))


def run(label: str, database_url: str, work: Path) -> None:
    devices = 300
    write_registry(work / "registry.csv", registry(devices))
    tokens = new_tokens()
    write_tokens(work / "tokens.json", tokens, force=True)
    settings = Settings(data_dir=work, database_url=database_url)
    clock = ManualClock()
    gateway = {"Authorization": f"Bearer {tokens['gateway']}"}
    office = {"Authorization": f"Bearer {tokens['property_office']}"}
    with serving(settings, clock) as (url, app), httpx.Client(
            base_url=url, headers=gateway, timeout=30,
            limits=httpx.Limits(max_connections=8)) as client:
        total = 1000
        bodies = [alarm_body(i, devices, clock) for i in range(total)]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda b: client.post("/api/alarms", json=b).status_code,
                                  bodies))
        elapsed = time.perf_counter() - started
        assert set(codes) == {200}, set(codes)
        emit("platform_alarm_ingest_per_s", total / elapsed, "alarms/s", store=label,
             alarms=total, devices=devices, clients=8)

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda b: client.post("/api/alarms", json=b), bodies[:500]))
        emit("platform_duplicate_ingest_per_s", 500 / (time.perf_counter() - started),
             "alarms/s", store=label, clients=8)

        stream = Stream(url, tokens["property_office"])
        latencies: list[float] = []
        for i in range(60):
            body = Alarm(f"lat-{i}", AlarmKind.ARC_FAULT, "d0007", "bench", clock.now_ms(),
                         evidence={}).to_dict()
            sent = time.perf_counter()
            client.post("/api/alarms", json=body)
            while True:
                occurrences, at = stream.arrived.get(timeout=10)
                if occurrences == i + 1:
                    latencies.append((at - sent) * 1000)
                    break
        stream.stop.set()
        latencies.sort()
        emit("platform_push_latency_p50_ms", statistics.median(latencies), "ms", store=label)
        emit("platform_push_latency_p99_ms", latencies[int(len(latencies) * 0.99)], "ms",
             store=label)

        timings = []
        for _ in range(20):
            started = time.perf_counter()
            response = client.get("/api/tickets", headers=office)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        emit("platform_ticket_list_ms", statistics.median(timings), "ms", store=label,
             tickets=len(response.json()))

        clock.advance(30 * 86_400_000)  # every ticket overdue
        started = time.perf_counter()
        applied = app.state.escalator.run_once()
        emit("platform_escalation_pass_ms", (time.perf_counter() - started) * 1000, "ms",
             store=label,
             tickets=len(applied))
        stream.thread.join(timeout=5)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "sqlite"
        work.mkdir()
        run("sqlite", f"sqlite:///{work / 'platform.db'}", work)
        with postgres_database() as url:
            if url is not None:
                work = Path(tmp) / "postgres"
                work.mkdir()
                run("postgresql", url, work)


if __name__ == "__main__":
    main()
