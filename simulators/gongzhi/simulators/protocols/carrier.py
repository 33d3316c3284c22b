"""What the simulated NB-IoT products look like on a carrier platform (CTWing, OneNET): their
identities (IMEI, platform device ids), their fields and alarm codes, and the platform's HTTP
push to the gateway (retried a few times, then dropped, as the platforms do).

The simulated products' fields (one table for every type; the gateway's push profile maps them
back, see docs/devices.md and deploy/sources/carriers-simulated.yaml):

| our metric | field | | our event | Alarm_Status |
|---|---|---|---|---|
| smoke_db_m | smoke_density | | smoke_alarm | 2 |
| temp_c | TData | | arc_fault | 3 |
| battery_pct | Battery_Level | | low_battery | 4 |
| pressure_mpa | pressure_kpa (x 1000) | | tamper | 5 |
| residual_ma | leakage_current | | fault | 6 |
| cable_temp_c | cable_temperature | | self_test_fail | 7 |
| current_a, voltage_v, power_w | current, voltage, power | | silenced | 8 |
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any

import httpx

from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Link, LinkAction, Outgoing
from gongzhi.simulators.protocols import (
    NativeEncoder,
    Route,
    contract_body,
    contract_topic,
    status_online,
)
from gongzhi.simulators.protocols.chirpstack import FIELDS as CODEC_FIELDS
from gongzhi.simulators.protocols.chirpstack import decoded_object

log = logging.getLogger(__name__)

# The codec's fields (chirpstack.FIELDS) but for these three.
FIELDS: dict[str, tuple[str, float]] = {
    **CODEC_FIELDS,
    "temp_c": ("TData", 1.0),
    "battery_pct": ("Battery_Level", 1.0),
    "pressure_mpa": ("pressure_kpa", 1000.0),
}
ALARM_FIELD = "Alarm_Status"
ALARM_CODES: dict[str, int] = {"smoke_alarm": 2, "arc_fault": 3, "low_battery": 4, "tamper": 5,
                               "fault": 6, "self_test_fail": 7, "silenced": 8}
SEND_TRIES = (0.2, 0.5, 1.0)  # waits between tries; then the push is dropped
LANE_DEPTH = 256  # pushes waiting a lane before the simulation waits


def _digest(device_id: str, what: str) -> bytes:
    return hashlib.sha256(f"gongzhi-{what}:{device_id}".encode()).digest()


def imei(device_id: str) -> str:
    """A 15-digit IMEI for a simulated device (stable per device id)."""
    return "86" + str(int.from_bytes(_digest(device_id, "imei")[:8], "big"))[-13:].zfill(13)


def platform_device_id(device_id: str) -> str:
    """CTWing's own device id (32 hex digits)."""
    return _digest(device_id, "ctwing").hex()[:32]


def onenet_device_id(device_id: str) -> int:
    """OneNET's numeric device id."""
    return 100_000_000 + int.from_bytes(_digest(device_id, "onenet")[:4], "big") % 900_000_000


def fields_of(body: dict[str, Any], channel: str) -> dict[str, Any]:
    """A contract message (telemetry or event body) as the product's fields."""
    return decoded_object(body, channel, fields=FIELDS, alarm_field=ALARM_FIELD,
                          alarm_codes=ALARM_CODES)


class PushSender:
    """The platform's side of the push: POST, a few tries, then give up on that push.

    Pushes go out from ``lanes`` threads as the simulation hands them over (``submit``), so the
    simulation does not wait for each answer: a platform pushes on its own. A push keyed to a
    lane keeps its order within it (a device's reports, in order); a full lane makes ``submit``
    wait (at most ``LANE_DEPTH`` pushes wait a lane). ``close`` sends what waits, then stops."""

    def __init__(self, url: str | None, what: str, lanes: int = 1) -> None:
        self.url = url or ""
        self.what = what
        self.sent = 0
        self.dropped = 0
        self._client: httpx.Client | None = None
        self._lanes: list[queue.Queue[_Push | None]] = []
        self._threads: list[threading.Thread] = []
        self._lane_count = lanes
        self._count = threading.Lock()

    def open(self) -> None:
        """Ready to push (a ``ConfigError`` without a URL: the external ids need none)."""
        if not self.url:
            raise ConfigError(f"the {self.what} protocol needs --push-url (the gateway's "
                              f"{self.what} push URL)")
        # httpx logs each request at INFO with its URL, where CTWing's token travels (and a line
        # a push would bury the simulator's own log): its warnings only.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._client = httpx.Client(timeout=10.0, verify=False)  # a self-signed push port
        for index in range(self._lane_count):
            lane: queue.Queue[_Push | None] = queue.Queue(LANE_DEPTH)
            thread = threading.Thread(target=self._run, args=(lane,), daemon=True,
                                      name=f"{self.what}-push-{index}")
            thread.start()
            self._lanes.append(lane)
            self._threads.append(thread)

    def close(self) -> None:
        for lane in self._lanes:
            lane.put(None)
        for thread in self._threads:
            thread.join()
        self._lanes, self._threads = [], []
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.dropped:
            log.warning("%d pushes to %s were dropped after %d tries", self.dropped, self.url,
                        len(SEND_TRIES) + 1)

    def submit(self, key: str, body: bytes, params: dict[str, str] | None = None) -> None:
        """Push ``body`` from the lane of ``key``, after what that lane holds already."""
        assert self._lanes, "open() first"
        self._lanes[zlib.crc32(key.encode()) % len(self._lanes)].put((body, params))

    def _run(self, lane: queue.Queue[_Push | None]) -> None:
        while (push := lane.get()) is not None:
            try:
                self.post(*push)
            except Exception:  # a lane that stopped would leave the simulation waiting on it
                log.exception("push to %s failed", self.url)
                self._counted(dropped=1)

    def post(self, body: bytes, params: dict[str, str] | None = None) -> bool:
        client = self._client
        assert client is not None, "open() first"
        for wait in (*SEND_TRIES, None):
            try:
                answer = client.post(self.url, content=body, params=params,
                                     headers={"Content-Type": "application/json"})
                if answer.status_code == 200:
                    self._counted(sent=1)
                    return True
                if 400 <= answer.status_code < 500:
                    log.warning("push refused by %s: %s %s", self.url, answer.status_code,
                                answer.text[:200])
                    self._counted(dropped=1)
                    return False
            except httpx.HTTPError as exc:
                log.debug("push to %s failed: %s", self.url, exc)
            if wait is None:
                break
            time.sleep(wait)
        self._counted(dropped=1)
        return False

    def _counted(self, sent: int = 0, dropped: int = 0) -> None:
        with self._count:  # the lanes' threads answer side by side
            self.sent += sent
            self.dropped += dropped


_Push = tuple[bytes, dict[str, str] | None]


class CarrierEncoder(NativeEncoder):
    """What the carriers' encoders share: the pushes of a platform (``what``), and the reports
    of one item of the simulation, through ``status`` (a device online or offline) and
    ``reading`` (a reading's fields at a time) of each platform. Nothing goes over MQTT."""

    mqtt_mode: str | None = "multiplexed"

    def __init__(self, records: Sequence[DeviceRecord], route: Route, what: str,
                 lanes: int = 1) -> None:
        self._records = list(records)
        self._sender = PushSender(route.push_url, what, lanes)
        self._clock_ms = 0

    def open(self) -> None:
        self._sender.open()

    def close(self) -> None:
        self._sender.close()

    def reports(self, item: Outgoing) -> list[dict[str, Any]]:
        """The platform's messages for one item of the simulation."""
        if isinstance(item, Link):
            if not 0 <= item.device < len(self._records):
                return []
            return [self.status(self._records[item.device].device_id,
                                item.action is LinkAction.CONNECT)]
        parts = contract_topic(item.topic)
        if parts is None:
            return []
        _, device_id, channel = parts
        if channel == "status":
            online = status_online(item.payload)
            return [] if online is None else [self.status(device_id, online)]
        body = contract_body(item.payload)
        if body is None or channel not in ("telemetry", "event"):
            return []
        ts = body.get("ts")
        at = ts if isinstance(ts, int) else self._clock_ms
        self._clock_ms = max(self._clock_ms, at)
        return self.reading(device_id, fields_of(body, channel), at)

    def status(self, device_id: str, online: bool) -> dict[str, Any]:
        raise NotImplementedError

    def reading(self, device_id: str, fields: dict[str, Any], at: int) -> list[dict[str, Any]]:
        raise NotImplementedError
