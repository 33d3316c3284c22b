"""Platform benchmark, on SQLite and on PostgreSQL (the tests' throwaway cluster, or the server
named by GONGZHI_TEST_POSTGRES).

Alarm intake, the real ``gongzhi platform`` process over HTTP with the load in a process of its
own, each figure the median of ``ROUNDS`` runs (min and max printed), every run on a fresh
database and platform process:

- ``platform_alarm_ingest_per_s`` (``path: batch``): a storm of 20,000 alarms (300 devices, each
  alarm a new ticket or an occurrence) drained by the real gateway sender from its on-disk
  outbox through ``POST /api/alarms/batch``; ``platform_storm_drain_s`` is the same drain's time.
- the baseline, the single-alarm path in the same run: ``path: single`` (the same sender, one
  ``POST /api/alarms`` per alarm) and ``path: single_8_clients`` (1,000 alarms from 8
  concurrent HTTP clients, the load this figure was measured with before batches).

In-process (uvicorn in a thread, a manual clock):

- ``platform_duplicate_ingest_per_s``: the same alarm delivered again (the idempotent path).
- ``platform_push_latency_p50_ms`` / ``_p99_ms`` (60 alarms): from the POST of an alarm to
  its ticket event on a party's server-push stream.
- ``platform_ticket_list_ms``: ``GET /api/tickets`` (500 newest visible) with the store full.
- ``platform_escalation_pass_ms``: one escalation pass when every ticket (about 300) is
  overdue.

Prints one JSON object per line, with the machine's load average at the start of each part.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
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
from gongzhi.core.broker import free_port
from gongzhi.core.clock import ManualClock, SystemClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.platform_client import PlatformClient, TokenSource
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens

ROUNDS = 3
STORM = 20_000
SINGLE = 1_000
KINDS = (AlarmKind.TAMPER, AlarmKind.ELECTRICAL_LEAKAGE, AlarmKind.WATER_PRESSURE_LOW,
         AlarmKind.LOW_BATTERY)


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, **context}),
          flush=True)


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """GONGZHI_TEST_POSTGRES, or a throwaway cluster as the tests start one (None: no server
    binaries here, and the SQLite figures still stand)."""
    named = os.environ.get("GONGZHI_TEST_POSTGRES")
    if named:
        yield named
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres_cluster import PostgresUnavailable, ThrowawayPostgres

    cluster = ThrowawayPostgres()
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        print(json.dumps({"skipped": "postgresql", "reason": str(exc)}), flush=True)
        yield None
        return
    try:
        yield cluster.admin_url
    finally:
        cluster.stop()


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    import psycopg

    name = f"gz_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
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


# --- alarm intake: the real platform process, the load in a process of its own -------------

LOADS = {  # name → (load, alarms)
    "batch": ("sender_batch", STORM),
    "single": ("sender_single", SINGLE),
    "single_8_clients": ("clients", SINGLE),
}


@contextmanager
def platform_process(work: Path, database_url: str) -> Iterator[tuple[str, str]]:
    """``gongzhi platform`` on a fresh data directory; yields its URL and the gateway token."""
    work.mkdir(parents=True)
    write_registry(work / "registry.csv", registry(300))
    tokens = new_tokens()
    write_tokens(work / "tokens.json", tokens, force=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update(GONGZHI_DATA_DIR=str(work), GONGZHI_DATABASE_URL=database_url,
               GONGZHI_LOG_LEVEL="WARNING")
    log = (work / "platform.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gongzhi.core.cli", "platform",
                             "--http-port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (work / "platform.log").read_text()
            assert time.monotonic() < deadline, "the platform did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url, tokens["gateway"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def storm_alarms(count: int, devices: int, now_ms: int) -> list[Alarm]:
    return [Alarm(f"storm-{i}", KINDS[i % len(KINDS)], f"d{i % devices:04d}", "bench",
                  now_ms - 600_000 + i, evidence={"rule": "bench"}) for i in range(count)]


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The load side (its own process): the gateway sender draining its outbox, or 8 HTTP
    clients posting single alarms. Returns the seconds the delivery took."""
    alarms = storm_alarms(spec["alarms"], 300, SystemClock().now_ms())
    if spec["load"] == "clients":
        bodies = [a.to_dict() for a in alarms]
        headers = {"Authorization": f"Bearer {spec['token']}"}
        with httpx.Client(base_url=spec["url"], headers=headers, timeout=60,
                          limits=httpx.Limits(max_connections=8)) as client:
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(
                    lambda b: client.post("/api/alarms", json=b).status_code, bodies))
            elapsed = time.perf_counter() - started
        assert set(codes) == {200}, set(codes)
        return {"elapsed_s": elapsed}
    outbox = AlarmOutbox(Path(spec["work"]) / "outbox.db")
    outbox.open()
    outbox.add(alarms, SystemClock().now_ms())
    client = PlatformClient(spec["url"], TokenSource(spec["token"],
                                                    Path(spec["work"]) / "none.json"))
    client.open()
    sender = AlarmSender(outbox, client, GatewayMetrics(), SystemClock(),
                         batches=spec["load"] == "sender_batch")
    started = time.perf_counter()
    while outbox.waiting()[0] > 0:
        wait = sender.run_once()
        if wait > 0 and outbox.waiting()[0] > 0:
            time.sleep(wait)
    elapsed = time.perf_counter() - started
    counts = outbox.counts()
    client.close()
    outbox.close()
    assert counts == {"pending": 0, "sent": len(alarms), "dead": 0}, counts
    return {"elapsed_s": elapsed}


def ingest(label: str, fresh_database: Any, work: Path) -> None:
    """Every load of ``LOADS``, ``ROUNDS`` times each, interleaved (a change of the machine's
    load touches all alike); each run on a fresh database and platform process."""
    elapsed: dict[str, list[float]] = {name: [] for name in LOADS}
    for round_ in range(ROUNDS):
        for name, (load, count) in LOADS.items():
            run_dir = work / f"{name}-{round_}"
            with fresh_database(run_dir) as url, platform_process(run_dir / "platform",
                                                                  url) as (base, token):
                spec = {"load": load, "alarms": count, "url": base, "token": token,
                        "work": str(run_dir)}
                done = subprocess.run([sys.executable, __file__, "--load", json.dumps(spec)],
                                      capture_output=True, text=True, timeout=900)
                assert done.returncode == 0, done.stderr[-3000:]
                elapsed[name].append(json.loads(done.stdout.strip().splitlines()[-1])
                                     ["elapsed_s"])
    for name, (load, count) in LOADS.items():
        rates = sorted(count / e for e in elapsed[name])
        emit("platform_alarm_ingest_per_s", statistics.median(rates), "alarms/s", store=label,
             path=name, min=round(rates[0], 1), max=round(rates[-1], 1), runs=len(rates),
             alarms=count, devices=300, load=load)
    times = sorted(elapsed["batch"])
    emit("platform_storm_drain_s", statistics.median(times), "s", store=label, alarms=STORM,
         min=round(times[0], 2), max=round(times[-1], 2), runs=len(times))


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
        total = 1000  # the store filled for the reads below
        bodies = [alarm_body(i, devices, clock) for i in range(total)]
        for start in range(0, total, 250):
            answer = client.post("/api/alarms/batch", json={"alarms": bodies[start:start + 250]})
            assert answer.status_code == 200, answer.text

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
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        print(json.dumps(run_load(json.loads(sys.argv[2]))), flush=True)
        return
    print(json.dumps({"load_average": os.getloadavg(), "cores": os.cpu_count()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as server:
        root = Path(tmp)

        @contextmanager
        def sqlite_database(run_dir: Path) -> Iterator[str]:
            yield f"sqlite:///{run_dir / 'platform.db'}"

        ingest("sqlite", sqlite_database, root / "ingest-sqlite")
        if server is not None:
            @contextmanager
            def pg_database(_run_dir: Path) -> Iterator[str]:
                with postgres_database(server) as url:
                    yield url

            ingest("postgresql", pg_database, root / "ingest-postgresql")
        print(json.dumps({"load_average": os.getloadavg()}), flush=True)
        work = root / "sqlite"
        work.mkdir()
        run("sqlite", f"sqlite:///{work / 'platform.db'}", work)
        if server is not None:
            with postgres_database(server) as url:
                work = root / "postgres"
                work.mkdir()
                run("postgresql", url, work)


if __name__ == "__main__":
    main()
