"""Helpers for the gateway tests: a small registry, a real HTTP peer standing in for the
platform's alarm endpoint, an MQTT publisher and polling with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.core.settings import Settings, load_settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry

T0 = 1_767_225_600_000
TOKEN = "tok-gateway-test"

DEVICES = (
    # device_id, type, estate, building, elderly_alone
    ("s1", "smoke", "e1", "b1", True),
    ("s2", "smoke", "e1", "b2", False),
    ("w1", "water_pressure", "e1", "b1", False),
    ("x1", "electrical", "e1", "b1", False),
    ("w2", "water_pressure", "e2", "b1", False),
)


def make_records(devices: Any = DEVICES) -> list[DeviceRecord]:
    return [DeviceRecord(device_id=d, type=DeviceType(t), elderly_alone=elderly,
                         location=Location(estate, building, "1", "3", "301"))
            for d, t, estate, building, elderly in devices]


def write_test_registry(path: Path, devices: Any = DEVICES) -> Path:
    write_registry(path, make_records(devices))
    return path


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0, what: str = "") -> Any:
    """Poll real I/O until ``predicate()`` is truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def gateway_settings(data_dir: Path, mqtt_url: str, platform_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(data_dir=data_dir, mqtt_url=mqtt_url, platform_url=platform_url,
                                  gateway_token=TOKEN, gateway_http_port=0,
                                  registry=data_dir / "registry.csv")
    values.update(extra)
    return load_settings(environ={}, **values)


class AlarmPeer:
    """A real HTTP server answering ``POST /api/alarms`` and ``/api/device-states`` like the
    platform: 201 for a new alarm id, 200 for a known one. ``status`` forces an answer code;
    ``down()``/``up()`` close and reopen the listening socket (connection refused meanwhile)."""

    def __init__(self) -> None:
        self.alarms: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.device_states: list[dict[str, Any]] = []
        self.status_reports: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.status: int | None = None
        self.refuse_ids: set[str] = set()
        self.retry_ids: set[str] = set()  # answered "retry" in a batch
        self.batch_status: int | None = None  # forces the batch endpoint's answer (404: none)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                if self.path == "/api/alarms/batch":
                    code, answer = peer._answer_batch(body["alarms"], auth)
                else:
                    code, answer = peer._answer(self.path, body, auth), b"{}"
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _answer(self, path: str, body: dict[str, Any], auth: str | None) -> int:
        with self._lock:
            self.auth.append(auth)
            if self.status is not None:
                return self.status
            if path == "/api/device-states":
                self.device_states += body["devices"]
                return 200
            if path == "/api/gateway-status":
                self.status_reports.append(body)
                return 200
            if body.get("alarm_id") in self.refuse_ids:
                return 422
            self.deliveries.append(body)
            key = f"{body['alarm_id']}/{body['state']}"
            known = key in self.alarms
            self.alarms[key] = body
            return 200 if known else 201

    def _answer_batch(self, alarms: list[dict[str, Any]], auth: str | None) -> tuple[int, bytes]:
        """``POST /api/alarms/batch``: one result per alarm, as the platform answers; a forced
        ``status`` answers the whole batch."""
        with self._lock:
            forced = self.status if self.status is not None else self.batch_status
            if forced is not None:
                self.auth.append(auth)
                return forced, b"{}"
        results: list[dict[str, Any]] = []
        for alarm in alarms:
            if alarm.get("alarm_id") in self.retry_ids:
                results.append({"alarm_id": alarm["alarm_id"], "ticket_id": None,
                                "created": False, "result": "retry"})
                continue
            code = self._answer("/api/alarms", alarm, auth)
            results.append({"alarm_id": alarm.get("alarm_id"), "ticket_id": None,
                            "created": code == 201,
                            "result": {201: "stored", 200: "duplicate"}.get(code, "refused"),
                            **({"reason": "refused", "message": "in refuse_ids"}
                               if code == 422 else {})})
        return 200, orjson.dumps({"results": results})

    def kinds(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted((a["device_id"], a["kind"]) for a in self.alarms.values()
                          if a["state"] == "raise")


class Publisher:
    """A device-side MQTT client publishing at QoS 1 and waiting for each PUBACK."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=paho.MQTTv5)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any],
                qos: int = 1, retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes | str) else orjson.dumps(payload)
        info = self._client.publish(topic, data, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
