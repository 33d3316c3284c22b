"""``gongzhi gateway --workers N``: N gateway processes on one machine, each owning a share of
the estates, under one supervisor.

One gateway process is held to about one core (paho's network thread and the ingest worker share
one interpreter lock). The supervisor runs N ordinary ``gongzhi gateway`` processes. Worker j of a
machine whose own partition is i/C (0/1 unless ``GONGZHI_GATEWAY_PARTITION`` is set) gets the
partition ``(i + C*j)/(C*N)``: the workers of a machine own exactly the machine's estates, each
estate exactly one worker, so a device's order, dedup and detection state stay in one process.
Each worker subscribes only to its own estates (``GONGZHI_GATEWAY_SUBSCRIBE=owned`` unless set
otherwise): the broker delivers each worker its share, instead of every worker receiving the
whole stream to skip most of it.

Worker j has the id ``<id>-w<j>`` (its own MQTT session, outbox and dead letters) and a status
server on a loopback port of its own; the supervisor serves the machine's status port
(``GONGZHI_GATEWAY_HTTP_PORT``): ``/metrics`` (each worker's samples labelled ``worker="j"``, and
the supervisor's own), ``/healthz`` and ``/readyz`` (ok only when every worker is, with a row
per worker), and the merged ``/dead-letters`` and ``/dead-alarms``.

A worker that exits unasked is logged at ERROR with its exit status and started again after a
jittered backoff (0.5 to 1 s, the ceiling doubling to 30 s; back to the first once it has run a
minute); health fails until it is
back. A worker that exits with 2 (configuration error) stops the supervisor with 2. SIGINT and
SIGTERM, installed whatever disposition was inherited, stop the workers with SIGTERM (each
finishes and acknowledges its batch), SIGKILL after 30 s; SIGHUP is passed on (registry reload).
Workers run in their own session (a terminal's Ctrl-C reaches only the supervisor, which stops
them) and the kernel sends them SIGTERM if the supervisor dies (``PR_SET_PDEATHSIG``): none is
left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gongzhi.core.backoff import Backoff
from gongzhi.core.broker import free_port
from gongzhi.core.errors import ConfigError
from gongzhi.core.exposition import Families, exposition
from gongzhi.core.settings import PREFIX, Settings, parse_mqtt_url
from gongzhi.core.stopping import SignalledStop
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.service import gateway_id
from gongzhi.gateway.status_http import StatusEndpoints, StatusServer

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
RESTART_BACKOFF = Backoff(first_s=1.0, max_s=30.0, floor_s=0.5)
STABLE_S = 60.0  # a worker that ran this long starts again after the shortest backoff
KILL_AFTER_S = 30.0
PROBE_TIMEOUT_S = 2.0
CONFIG_ERROR_EXIT = 2


def worker_count(settings: Settings) -> int:
    """``GONGZHI_GATEWAY_WORKERS``, 0 meaning one per CPU core this process may use."""
    if settings.gateway_workers:
        return settings.gateway_workers
    return max(1, len(os.sched_getaffinity(0)))


def worker_partition(machine: Partition, index: int, workers: int) -> Partition:
    """Worker ``index`` of ``workers`` on a machine that owns ``machine``: the estates with
    CRC-32 mod (C*N) = i + C*index, which all have CRC-32 mod C = i."""
    if machine.by_building:
        raise ConfigError("GONGZHI_GATEWAY_WORKERS above 1 needs a partition by estate "
                          f"(the workers subscribe by estate), got {machine}")
    return Partition(machine.index + machine.count * index, machine.count * workers)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    index: int
    gateway_id: str
    partition: Partition
    http_port: int
    mqtt_url: str | None = None  # None: the supervisor's


def worker_mqtt_urls(settings: Settings, workers: int) -> list[str | None]:
    """``GONGZHI_GATEWAY_WORKER_MQTT_URLS``: one URL per worker (a broker that makes the MQTT
    user the client id needs a user per worker), or the one MQTT URL for all."""
    if not settings.gateway_worker_mqtt_urls:
        return [None] * workers
    urls = settings.gateway_worker_mqtt_urls.split()
    if len(urls) != workers:
        raise ConfigError(f"GONGZHI_GATEWAY_WORKER_MQTT_URLS has {len(urls)} URLs for "
                          f"{workers} workers: give one per worker, separated by spaces")
    for url in urls:
        parse_mqtt_url(url)
    if len(set(urls)) != len(urls):
        raise ConfigError("GONGZHI_GATEWAY_WORKER_MQTT_URLS: every worker needs a URL (an MQTT "
                          "user) of its own")
    return list(urls)


def worker_specs(settings: Settings, workers: int, ports: Sequence[int]) -> list[WorkerSpec]:
    machine = Partition.parse(settings.gateway_partition)
    base = gateway_id(settings)
    urls = worker_mqtt_urls(settings, workers)
    return [WorkerSpec(j, f"{base}-w{j}", worker_partition(machine, j, workers), ports[j],
                       urls[j]) for j in range(workers)]


def worker_environment(settings: Settings, spec: WorkerSpec,
                       environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: the supervisor's own without its ``GONGZHI_*`` variables, and
    every setting the supervisor was given (variables or options) as variables (not arguments:
    secrets stay out of the process list), with the worker's share, id and port."""
    env = {k: v for k, v in environ.items() if not k.startswith(PREFIX)}
    given = settings.model_dump(exclude_unset=True)
    given.pop("gateway_worker_mqtt_urls", None)
    if spec.mqtt_url is not None:
        given["mqtt_url"] = spec.mqtt_url
    given.update(gateway_partition=str(spec.partition), gateway_id=spec.gateway_id,
                 gateway_http_port=spec.http_port, http_host="127.0.0.1", gateway_workers=1)
    given.setdefault("gateway_subscribe", "owned")
    env.update({PREFIX + name.upper(): str(value) for name, value in given.items()
                if value is not None})
    return env


def label_metrics(texts: Sequence[tuple[str, str]]) -> str:
    """Prometheus texts of several workers, ``(worker, text)``, as one: every sample gets a
    ``worker`` label, each metric family's HELP and TYPE appear once, its samples together."""
    families: dict[str, tuple[list[str], list[str]]] = {}
    for worker, text in texts:
        family = ""
        for line in text.splitlines():
            if line.startswith("#"):
                parts = line.split(maxsplit=3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    family = parts[2]
                    meta, _ = families.setdefault(family, ([], []))
                    if line not in meta:
                        meta.append(line)
                continue
            if not line.strip():
                continue
            name, _, rest = line.partition(" ")
            metric, brace, labels = name.partition("{")
            labelled = (f'{metric}{{worker="{worker}",{labels}' if brace
                        else f'{metric}{{worker="{worker}"}}')
            families.setdefault(family or metric, ([], []))[1].append(f"{labelled} {rest}")
    lines: list[str] = []
    for meta, samples in families.values():
        lines += meta + samples
    return "\n".join(lines) + "\n"


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """In the forked child before exec: SIGTERM when the supervisor dies, default SIGINT and
    SIGTERM whatever the supervisor inherited (an ignored SIGTERM would outlive it)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def prepare() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return prepare


@dataclass
class Worker:
    spec: WorkerSpec
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0  # exits in a row, each within STABLE_S of its start
    restart_at: float | None = None
    last_exit: int | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


class GatewaySupervisor:
    """Start with ``start()``, call ``poll()`` from the main thread (it starts workers again: the
    kernel's parent-death signal belongs to the thread that forked), ``stop()`` at the end."""

    def __init__(self, settings: Settings, *, workers: int | None = None,
                 command: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                 ports: Sequence[int] | None = None, clock: Callable[[], float] = time.monotonic,
                 kill_after_s: float = KILL_AFTER_S, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.count = workers if workers is not None else worker_count(settings)
        self.gateway_id = gateway_id(settings)
        self._command = list(command or [sys.executable, "-m", "gongzhi.core.cli", "gateway"])
        self._environ = dict(os.environ if environ is None else environ)
        self._ports = list(ports) if ports is not None else None
        self._clock = clock
        self._kill_after_s = kill_after_s
        self._rng = rng or random.Random()
        self.workers: list[Worker] = []
        self.http: StatusServer | None = None
        self.config_error: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        ports = self._ports or [free_port() for _ in range(self.count)]
        specs = worker_specs(self.settings, self.count, ports)
        self.workers = [Worker(spec, worker_environment(self.settings, spec, self._environ))
                        for spec in specs]
        self.http = StatusServer(self.settings.http_host, self.settings.gateway_http_port,
                                 StatusEndpoints(metrics=self.render_metrics, health=self.health,
                                                 dead_letters=self.dead_letters,
                                                 dead_alarms=self.dead_alarms))
        self.http.start()
        for worker in self.workers:
            self._spawn(worker)
        log.info("gateway %s: %d workers (%s), status on http://%s:%d", self.gateway_id,
                 self.count, ", ".join(f"{w.spec.gateway_id} {w.spec.partition} pid "
                                       f"{w.proc.pid if w.proc else '-'}" for w in self.workers),
                 self.settings.http_host, self.http.port)

    def poll(self) -> bool:
        """Start dead workers again when their backoff is over; False once a worker has exited
        with a configuration error (the supervisor should stop: starting it again is futile)."""
        now = self._clock()
        for worker in self.workers:
            proc = worker.proc
            if proc is not None and proc.poll() is not None:
                worker.proc = None
                worker.last_exit = proc.returncode
                if proc.returncode == CONFIG_ERROR_EXIT:
                    self.config_error = (f"worker {worker.spec.gateway_id} exited with a "
                                         "configuration error (its message is above)")
                    log.error("gateway %s", self.config_error)
                    return False
                if now - worker.started_at >= STABLE_S:
                    worker.failures = 0
                worker.failures += 1
                wait = RESTART_BACKOFF.delay(worker.failures, self._rng)
                worker.restart_at = now + wait
                log.error("gateway worker %s (partition %s, pid %d) exited with %s; starting it "
                          "again in %.1f s", worker.spec.gateway_id, worker.spec.partition,
                          proc.pid, _exit_text(proc.returncode), wait)
            if worker.proc is None and worker.restart_at is not None and now >= worker.restart_at:
                worker.restarts += 1
                self._spawn(worker)
        return True

    def reload(self) -> None:
        """Pass SIGHUP on: every worker reloads the registry."""
        for worker in self.workers:
            if worker.running and worker.proc is not None:
                worker.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to those still running after ``kill_after_s``;
        returns once all have exited. Idempotent."""
        procs = [w.proc for w in self.workers if w.proc is not None]
        for worker in self.workers:
            worker.restart_at = None
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = self._clock() + self._kill_after_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                log.error("gateway worker pid %d did not stop in %.0f s; killing it", proc.pid,
                          self._kill_after_s)
                proc.kill()
                proc.wait()
        for worker in self.workers:
            worker.proc = None
        if self.http is not None:
            self.http.stop()
            self.http = None

    def _spawn(self, worker: Worker) -> None:
        worker.restart_at = None
        worker.started_at = self._clock()
        worker.proc = subprocess.Popen(self._command, env=worker.env, start_new_session=True,
                                       preexec_fn=_die_with_parent(os.getpid()))

    # --- the machine's status port ---------------------------------------------------------

    def _worker_url(self, worker: Worker, path: str) -> str:
        return f"http://127.0.0.1:{worker.spec.http_port}{path}"

    def health(self) -> dict[str, Any]:
        """Alive when every worker runs and answers alive; ``mqtt_connected`` (so ready) when
        every worker is ready (``/readyz`` 200)."""
        rows = []
        for worker in self.workers:
            row: dict[str, Any] = {"worker": worker.spec.index,
                                   "gateway_id": worker.spec.gateway_id,
                                   "partition": str(worker.spec.partition),
                                   "pid": worker.proc.pid if worker.proc else None,
                                   "running": worker.running, "restarts": worker.restarts,
                                   "last_exit": worker.last_exit, "status": "failing",
                                   "ready": False, "queue_depth": 0}
            if worker.running:
                try:
                    code, body = _get_json(self._worker_url(worker, "/readyz"))
                except (OSError, ValueError):
                    row["status"] = "not answering"
                else:
                    row.update(status=body.get("status", "failing"), ready=code == 200,
                               queue_depth=body.get("queue_depth", 0))
            rows.append(row)
        alive = bool(rows) and all(r["status"] == "ok" for r in rows)
        return {"status": "ok" if alive else "failing", "gateway_id": self.gateway_id,
                "mqtt_connected": bool(rows) and all(r["ready"] for r in rows),
                "queue_depth": sum(r["queue_depth"] for r in rows), "workers": rows}

    def render_metrics(self) -> str:
        texts = []
        up = []
        for worker in self.workers:
            text = None
            if worker.running:
                try:
                    with urllib.request.urlopen(self._worker_url(worker, "/metrics"),
                                                timeout=PROBE_TIMEOUT_S) as response:
                        text = response.read().decode()
                except OSError:
                    text = None
            up.append(text is not None)
            if text is not None:
                texts.append((str(worker.spec.index), text))
        workers = GaugeMetricFamily("gongzhi_gateway_workers",
                                    "worker processes configured on this machine",
                                    value=self.count)
        alive = GaugeMetricFamily("gongzhi_gateway_worker_up",
                                  "1 while the worker runs and answers", labels=["worker"])
        restarts = CounterMetricFamily("gongzhi_gateway_worker_restarts",
                                       "times a worker was started again", labels=["worker"])
        for worker, ok in zip(self.workers, up, strict=True):
            alive.add_metric([str(worker.spec.index)], int(ok))
            restarts.add_metric([str(worker.spec.index)], worker.restarts)
        return exposition(Families([workers, alive, restarts])) + label_metrics(texts)

    def _merged(self, path: str, params: dict[str, Any], limit: int,
                newest: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        query = urlencode({k: v for k, v in params.items() if v is not None})
        for worker in self.workers:
            if not worker.running:
                continue
            try:
                code, body = _get_json(self._worker_url(worker, f"{path}?{query}"))
            except (OSError, ValueError):
                continue
            if code == 200 and isinstance(body, list):
                rows += [{**row, "worker": worker.spec.index} for row in body]
        rows.sort(key=lambda row: row.get(newest) or 0, reverse=True)
        return rows[:limit]

    def dead_letters(self, limit: int, reason: str | None) -> list[dict[str, Any]]:
        return self._merged("/dead-letters", {"limit": limit, "reason": reason}, limit,
                            "received_ms")

    def dead_alarms(self, limit: int) -> list[dict[str, Any]]:
        return self._merged("/dead-alarms", {"limit": limit}, limit, "done_ms")


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None], *,
                        reload: Callable[[], None], step: Callable[[], bool] = lambda: True,
                        poll_s: float = 0.5) -> None:
    """``start()``, then ``step()`` every ``poll_s`` until SIGINT or SIGTERM (handlers installed
    whatever disposition was inherited) or until ``step()`` returns False; ``stop()`` always.
    SIGHUP calls ``reload()`` at the next turn. The handlers only note the signal and take no
    lock (``SignalledStop``: a worker given two SIGTERMs at once, its supervisor's and the
    kernel's when the supervisor died, never stopped when they set an Event)."""
    with SignalledStop(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as noted:
        try:
            start()
            while True:
                time.sleep(poll_s)  # a signal's handler runs within it; it ends by poll_s
                if _stop_asked(noted, reload) or not step():
                    break
        finally:
            stop()


def _stop_asked(noted: SignalledStop, reload: Callable[[], None]) -> bool:
    """Whether SIGINT or SIGTERM came; the reloads SIGHUP asked for before it are done."""
    while (signum := noted.pop()) is not None:
        if signum != signal.SIGHUP:
            return True
        reload()
    return False


def run_supervisor(settings: Settings) -> int:
    """The ``gongzhi gateway`` command with more than one worker: until SIGINT or SIGTERM."""
    supervisor = GatewaySupervisor(settings)
    run_until_signalled(supervisor.start, supervisor.stop, reload=supervisor.reload,
                        step=supervisor.poll, poll_s=0.2)
    if supervisor.config_error:
        raise ConfigError(supervisor.config_error)
    return 0
