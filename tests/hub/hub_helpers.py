"""Helpers of the platform's tests: a small registry, alarm bodies, an API client with each
principal's token, a real uvicorn server in a thread, `gongzhi platform` as a child process, and
a server-push reader."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.core.broker import free_port as free_port  # (the tests import it from here)
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location
from gongzhi.hub.duty_parse import load_matrix
from gongzhi.hub.routing import AlarmFacts, route
from gongzhi.hub.tickets import Ticket, new_ticket

ESTATE = "yijing"


def device(device_id: str, type_: DeviceType, *, building: str = "B1", unit: str = "U1",
           floor: str = "3", room: str = "301", elderly: bool = False,
           household: str | None = None, riser: str | None = None,
           phone: str | None = None) -> DeviceRecord:
    return DeviceRecord(device_id=device_id, type=type_,
                        location=Location(ESTATE, building, unit, floor, room),
                        elderly_alone=elderly, household=household, riser=riser, phone=phone)


DEVICES = [
    device("smk-elderly", DeviceType.SMOKE, room="301", elderly=True, household="H301",
           phone="13812341234"),
    device("smk-young", DeviceType.SMOKE, room="302", household="H302", phone="13900001111"),
    device("smk-b2", DeviceType.SMOKE, building="B2", room="101", household="H2-101"),
    device("wp-r1", DeviceType.WATER_PRESSURE, room="pump", riser="R1"),
    device("wp-r1b", DeviceType.WATER_PRESSURE, floor="9", room="pump9", riser="R1"),
    device("el-301", DeviceType.ELECTRICAL, room="301", household="H301", elderly=True,
           phone="13812341234"),
    device("el-corr", DeviceType.ELECTRICAL, room="corridor", household="H305"),
]


def alarm(kind: AlarmKind, device_id: str, *, alarm_id: str | None = None, ts_ms: int = 0,
          state: AlarmState = AlarmState.RAISE, building: str | None = None,
          evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    return Alarm(alarm_id=alarm_id or f"al-{device_id}-{kind.value}-{ts_ms}", kind=kind,
                 device_id=device_id, estate_id=ESTATE, ts_ms=ts_ms, state=state,
                 evidence=evidence or {"rule": "test"}, building=building).to_dict()


@dataclass
class Api:
    """A TestClient with each principal's headers at hand."""

    client: TestClient
    tokens: dict[str, str]
    app: FastAPI = field(repr=False)

    def close(self) -> None:
        """Stop this app (its lifespan ends, the store is closed), like a process exiting."""
        self.client.__exit__(None, None, None)

    def auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    def post_alarm(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/api/alarms", json=body, headers=self.auth("gateway"))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, party: str, **params: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(party), params=params)

    def act(self, ticket_id: int, party: str, action: str, note: str | None = None
            ) -> httpx.Response:
        return self.client.post(f"/api/tickets/{ticket_id}/actions",
                                json={"action": action, "note": note}, headers=self.auth(party))

    def ticket(self, ticket_id: int, party: str = "property_office") -> dict[str, Any]:
        response = self.get(f"/api/tickets/{ticket_id}", party)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


ApiFactory = Callable[..., Api]


class Server:
    """The app behind a real uvicorn on a free port, in a thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app = app
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the platform did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its GONGZHI_* variables, plus a data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update(GONGZHI_DATA_DIR=str(data_dir), **extra)
    return env


def run_platform_command(data_dir: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    """``gongzhi platform`` run to its end (for configurations it must refuse)."""
    return subprocess.run([sys.executable, "-m", "gongzhi.core.cli", "platform",
                           "--http-port", str(port)], env=cli_env(data_dir, **env),
                          capture_output=True, text=True, timeout=60)


class PlatformProcess:
    """``gongzhi platform`` as a child process; leaving the ``with`` block presses Ctrl-C and
    keeps the exit code and output."""

    def __init__(self, data_dir: Path, port: int, **env: str) -> None:
        self.args = [sys.executable, "-m", "gongzhi.core.cli", "platform",
                     "--http-port", str(port)]
        self.env = cli_env(data_dir, **env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.out = ""
        self.err = ""

    def __enter__(self) -> PlatformProcess:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        return self

    def first_answer(self, client: httpx.Client, url: str, timeout_s: float = 30.0
                     ) -> httpx.Response:
        """GET ``url`` until the platform answers (it is starting)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return client.get(url)
            except httpx.TransportError:
                assert self.proc.poll() is None, self.proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the platform did not answer"
                time.sleep(0.1)

    def __exit__(self, *_exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        self.returncode, self.out, self.err = self.proc.returncode, out.decode(), err.decode()


@dataclass
class SseEvent:
    id: int | None
    event: str | None
    data: str


class SseReader:
    """Reads a text/event-stream in a thread; ``next`` waits (with a deadline) for an event."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.events: queue.Queue[SseEvent] = queue.Queue()
        self.comments: list[str] = []
        self.status: int | None = None
        self.content_type: str | None = None
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SseReader:
        self._thread.start()
        if not self._opened.wait(10):
            raise TimeoutError("the stream did not open")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client, client.stream(
                "GET", self.url, headers=self.headers) as response:
            self.status = response.status_code
            self.content_type = response.headers.get("content-type")
            fields: dict[str, str] = {}
            lines = response.iter_lines()
            self._opened.set()
            for line in lines:
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in fields:
                        self.events.put(SseEvent(
                            int(fields["id"]) if "id" in fields else None,
                            fields.get("event"), fields["data"]))
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    def next(self, timeout: float = 5.0) -> SseEvent:
        return self.events.get(timeout=timeout)

    def drain(self, quiet_s: float = 0.5) -> list[SseEvent]:
        """Every event until none arrives for ``quiet_s``."""
        found: list[SseEvent] = []
        while True:
            try:
                found.append(self.events.get(timeout=quiet_s))
            except queue.Empty:
                return found


def make_ticket(kind: str = "smoke_alarm", *, now: int = 1_000_000, elderly: bool = False,
                ticket_id: int = 1, **changes: Any) -> Ticket:
    """A ticket as the default matrix opens it (for tests of the pure domain)."""
    matrix = load_matrix(None)
    facts = AlarmFacts(kind=kind, device_id="d1", estate_id=ESTATE, building="B1",
                       elderly_alone=elderly, household="H1", riser="R1", ts_ms=now)
    ticket = new_ticket(route(matrix, facts, {}), facts, matrix,
                        location=Location(ESTATE, "B1", "U1", "3", "301"),
                        phone="13812341234", evidence={}, now=now)
    return replace(ticket, id=ticket_id, **changes)
