"""Runs the real processes of the system (`gongzhi platform`, `gongzhi gateway`) against a private
broker, as an operator would: configured only through GONGZHI_* variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry

T = TypeVar("T")

PARTIES = ("property_office", "police_room", "residents_committee", "owners_committee",
           "party_committee", "npc_liaison")


def small_registry() -> list[DeviceRecord]:
    """One building: an elderly-alone household's smoke detector, a neighbour's, a riser's
    pressure sensor and a household electrical monitor."""
    def loc(room: str, floor: str = "3") -> Location:
        return Location("e2e", "B1", "U1", floor, room)

    return [
        DeviceRecord("smoke-301", DeviceType.SMOKE, loc("301"), elderly_alone=True,
                     phone="13812341234", household="B1-U1-301"),
        DeviceRecord("smoke-302", DeviceType.SMOKE, loc("302"), household="B1-U1-302"),
        DeviceRecord("press-r1", DeviceType.WATER_PRESSURE, loc("riser", "1"), riser="B1-R1"),
        DeviceRecord("elec-301", DeviceType.ELECTRICAL, loc("301"), household="B1-U1-301"),
    ] + [
        DeviceRecord(f"smoke-{n}", DeviceType.SMOKE, loc(str(n), str(n // 100)))
        for n in range(401, 431)
    ]


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Service:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gongzhi.core.cli", *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class System:
    root: Path
    broker_url: str
    http_port: int
    gateway_port: int
    tokens: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
        env.update({
            "GONGZHI_DATA_DIR": str(self.root),
            "GONGZHI_MQTT_URL": self.broker_url,
            "GONGZHI_HTTP_PORT": str(self.http_port),
            "GONGZHI_GATEWAY_HTTP_PORT": str(self.gateway_port),
            "GONGZHI_PLATFORM_URL": self.base,
            "GONGZHI_REGISTRY": str(self.root / "registry.csv"),
            "GONGZHI_TOKENS_FILE": str(self.root / "tokens.json"),
        })
        return env

    def add(self, name: str, *args: str) -> Service:
        svc = Service(name, list(args), self.env(), self.root / f"{name}.log")
        self.services[name] = svc
        return svc

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.log.read_text(errors='replace')[-4000:]}"
                         for s in self.services.values() if s.log.exists())

    def api(self, party: str | None, path: str, method: str = "GET",
            json_body: Any = None, token: str | None = None) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif party is not None:
            headers["Authorization"] = f"Bearer {self.tokens[party]}"
        return httpx.request(method, self.base + path, headers=headers, json=json_body,
                             timeout=5.0)

    def tickets(self, party: str, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        r = self.api(party, "/api/tickets" + (f"?{query}" if query else ""))
        r.raise_for_status()
        body = r.json()
        return list(body["tickets"] if isinstance(body, dict) else body)

    def wait_healthy(self, url: str, timeout: float = 30) -> None:
        def ok() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        try:
            wait_until(ok, timeout, url)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def wait_subscribed(self, timeout: float = 60) -> None:
        """Until the gateway is connected and subscribed (its /healthz answers before that:
        a device message published in between would reach no subscriber)."""
        def subscribed() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.gateway_port}/readyz",
                                 timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        try:
            wait_until(subscribed, timeout, "the gateway to subscribe")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def gateway_metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.gateway_port}/metrics", timeout=5).text


def make_system(root: Path, broker_url: str, free_port: Callable[[], int]) -> System:
    root.mkdir(parents=True, exist_ok=True)
    write_registry(root / "registry.csv", small_registry())
    tokens = {p: f"tok-{p}-{os.urandom(8).hex()}" for p in PARTIES}
    tokens["gateway"] = f"tok-gateway-{os.urandom(8).hex()}"
    (root / "tokens.json").write_text(json.dumps(tokens))
    return System(root, broker_url, free_port(), free_port(), tokens)


class Device:
    """A test-side MQTT device client (QoS 1, waits for each PUBACK)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"e2e-{os.urandom(4).hex()}")
        self.port = port

    def __enter__(self) -> Device:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any]) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(topic, data, qos=1).wait_for_publish(timeout=5)


def iter_lines(text: str) -> Iterator[str]:
    return iter(text.splitlines())
