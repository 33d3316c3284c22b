"""What the page tests drive: a real platform (uvicorn in a thread, SQLite in a temporary
directory, a small estate's registry, a tokens file) that can be stopped and started again, and
helpers for a headless Debian chromium driven by Playwright (no browser is ever downloaded)."""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, ViewportSize

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import Clock, SystemClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens
from gongzhi.telemetry.embedded import telemetry_db_path
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
# The committed screenshots in docs/ are refreshed by `make screenshots`; a plain test run still
# takes every screenshot (the views must render) but keeps them out of the working tree.
SCREENSHOTS = (ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "gongzhi-screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ESTATE = "yijing"
WALL_SIZE: ViewportSize = {"width": 1920, "height": 1080}
PHONE_SIZE: ViewportSize = {"width": 375, "height": 812}
HOUR_MS = 3_600_000


ROW_HEIGHT = 64  # a queue row's height as the wall draws it (js/queue.js rowHeight)


def estate_registry() -> list[DeviceRecord]:
    """Four buildings of six floors and two units: a smoke detector and an electrical monitor in
    each flat, a fire-riser pressure sensor per building; some elderly people living alone."""
    records: list[DeviceRecord] = []
    for building in ("1", "2", "3", "4"):
        for unit in ("1", "2"):
            for floor in range(1, 7):
                room = f"{floor}0{unit}"
                where = Location(ESTATE, building, unit, str(floor), room)
                elderly = (floor + int(building)) % 5 == 0
                phone = f"1381234{int(building):02d}{floor}{unit}"
                household = f"{building}-{unit}-{room}"
                records.append(DeviceRecord(f"smk-{building}-{unit}-{floor}", DeviceType.SMOKE,
                                            where, elderly_alone=elderly, household=household,
                                            phone=phone))
                records.append(DeviceRecord(f"el-{building}-{unit}-{floor}",
                                            DeviceType.ELECTRICAL, where, household=household))
        records.append(DeviceRecord(f"wp-{building}", DeviceType.WATER_PRESSURE,
                                    Location(ESTATE, building, "1", "1", "pump"),
                                    riser=f"{building}#R1"))
    return records


def seed_telemetry(settings: Settings, now_ms: int) -> None:
    """A day of riser pressures (building 3's sagging towards the alarm line) and a minute of
    residual currents (one circuit leaking), written by the gateway's own telemetry store."""
    store = TelemetryStore(telemetry_db_path(settings))
    store.open()
    try:
        batch: list[Telemetry] = []
        for building in ("1", "2", "3", "4"):
            for step in range(0, 24 * 60, 10):  # every 10 min for 24 h
                ts = now_ms - 24 * HOUR_MS + step * 60_000
                sag = 0.2 * step / (24 * 60) if building == "3" else 0.0
                wave = 0.02 * math.sin(step / 90 + int(building))
                batch.append(Telemetry(f"wp-{building}", ESTATE, DeviceType.WATER_PRESSURE, ts,
                                       {"pressure_mpa": round(0.32 - sag + wave, 4)}, ts))
        for building, unit, floor in itertools.product("1234", "12", range(1, 7)):
            device_id = f"el-{building}-{unit}-{floor}"
            base = 40.0 + 7 * floor + 11 * int(building)
            for second in range(0, 1200, 10):  # the last 20 minutes
                ts = now_ms - 1_200_000 + second * 1000
                leak = base + (second * 0.3 if device_id == "el-1-2-3" else 0.0)
                batch.append(Telemetry(device_id, ESTATE, DeviceType.ELECTRICAL, ts,
                                       {"residual_ma": round(leak, 1), "voltage_v": 221.0}, ts))
        store.write(batch, now_ms)
    finally:
        store.close()


@dataclass
class Platform:
    """A platform server that a test may stop and start again on the same port and database."""

    settings: Settings
    tokens: dict[str, str]
    port: int
    clock: Clock = field(default_factory=SystemClock)
    app: FastAPI | None = None
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    alarm_ids: Iterator[int] = field(default_factory=itertools.count)
    device_counts: dict[str, int] = field(default_factory=dict)
    _http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """One keep-alive client for the test's own API calls (closed by ``close``)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10)
        return self._http

    def close(self) -> None:
        self.stop()
        if self._http is not None:
            self._http.close()
            self._http = None

    def post(self, path: str, party: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body, headers=self.auth(party))
        assert response.status_code == 200, response.text
        return response.json()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.app = create_app(self.settings, self.clock, background=False, keepalive_s=2.0,
                              poll_s=0.05)
        # Where the trends find the telemetry store.
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the platform did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
        self.server = self.thread = None

    def auth(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    def raise_alarm(self, kind: AlarmKind, device_id: str, estate_id: str = ESTATE,
                    **evidence: Any) -> int:
        """POST an alarm as the gateway does; returns the ticket id."""
        alarm = Alarm(alarm_id=f"al-page-{next(self.alarm_ids)}-{time.time_ns()}", kind=kind,
                      device_id=device_id, estate_id=estate_id, ts_ms=self.clock.now_ms(),
                      evidence=evidence or {"rule": "test"})
        response = self.http.post("/api/alarms", json=alarm.to_dict(),
                                  headers=self.auth("gateway"))
        assert response.status_code == 200, response.text
        ticket_id = response.json()["ticket_id"]
        assert isinstance(ticket_id, int)
        return ticket_id

    def report_devices(self) -> dict[str, int]:
        """Device states as the gateway reports them: three flats of building 3 offline, the
        detectors of two flats low on battery. Returns the counts the wall should show."""
        now = self.clock.now_ms()
        states = []
        offline = low = 0
        for record in estate_registry():
            loc = record.location
            is_offline = loc.building == "3" and loc.unit == "2" and loc.floor in "123"
            values: dict[str, float] = {}
            if record.type is DeviceType.SMOKE:
                is_low = loc.building == "1" and loc.floor in ("5", "6") and loc.unit == "1"
                values = {"battery_pct": 12.0 if is_low else 87.0, "smoke_db_m": 0.01}
                low += is_low
            offline += is_offline
            states.append({"device_id": record.device_id, "online": not is_offline,
                           "last_seen_ms": now, "values": values, "values_ts_ms": now})
        response = self.http.post("/api/device-states", json={"devices": states},
                                  headers=self.auth("gateway"))
        assert response.status_code == 200, response.text
        return {"devices": len(states), "offline": offline, "low_battery": low}

    def report_gateway(self, **changes: Any) -> None:
        """A gateway's health report as the gateway sends it every 2 s (healthy unless
        ``changes`` say otherwise)."""
        body: dict[str, Any] = {"gateway_id": "gateway", "alarms_waiting": 0,
                                "oldest_waiting_age_ms": None, "worker_alive": True,
                                "worker_stalled_ms": 0, "mqtt_connected": True, "queue_depth": 0}
        response = self.http.post("/api/gateway-status", json=body | changes,
                                  headers=self.auth("gateway"))
        assert response.status_code == 200, response.text

    def get(self, path: str, party: str, **params: Any) -> Any:
        response = self.http.get(path, headers=self.auth(party), params=params)
        assert response.status_code == 200, response.text
        return response.json()


def make_platform(directory: Path, clock: Clock | None = None) -> Platform:
    directory.mkdir(parents=True, exist_ok=True)
    tokens = new_tokens()
    write_tokens(directory / "tokens.json", tokens)
    write_registry(directory / "registry.csv", estate_registry())
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'platform.db'}")
    used = clock or SystemClock()
    seed_telemetry(settings, used.now_ms())
    return Platform(settings, tokens, free_port(), used)


@contextmanager
def running_platform(directory: Path, clock: Clock | None = None) -> Iterator[Platform]:
    """The platform of ``make_platform``, serving until the block ends."""
    running = make_platform(directory, clock)
    running.start()
    try:
        yield running
    finally:
        running.close()



def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    """A fresh 1920×1080 tab (own session storage) that records script errors."""
    context = browser.new_context(viewport=WALL_SIZE, locale="zh-CN")
    return _watched(context.new_page(), url, errors)


def open_phone(browser: Browser, url: str, errors: list[str]) -> Page:
    """A fresh tab the size of a phone (375×812, touch, 2× pixels) that records script
    errors."""
    context = browser.new_context(viewport=PHONE_SIZE, locale="zh-CN", device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    return _watched(context.new_page(), url, errors)


def _watched(page: Page, url: str, errors: list[str]) -> Page:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Script errors count; a refused connection while the platform is down is expected.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource: net::") else None)
    page.goto(url)
    return page


def sign_in(page: Page, token: str) -> None:
    page.locator("#signin-token").fill(token)
    page.locator("#signin-form button[type=submit]").click()
    page.wait_for_selector("body[data-loaded='1']", timeout=10_000)
    page.wait_for_selector("body[data-conn='live']", timeout=10_000)


def fill_local_time(page: Page, selector: str, ms: int) -> None:
    """Set a datetime-local input to ``ms`` (to the minute) in the browser's own time zone, as
    a person would pick it."""
    page.evaluate("""([selector, ms]) => {
      const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
      document.querySelector(selector).value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-`
        + `${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    }""", [selector, ms])


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def dismiss_popups(page: Page) -> None:
    """Close the critical pop-ups a fresh page shows for the open critical tickets."""
    popup = page.locator("#popup")
    for _ in range(50):
        if not popup.is_visible():
            return
        popup.locator("button.btn-quiet").click()
    raise AssertionError("the pop-up did not go away")


HIT = "([x, y, selector]) => Boolean(document.elementFromPoint(x, y)?.closest(selector))"
BOX = """selector => {
  const r = document.querySelector(selector)?.getBoundingClientRect();
  return r ? [r.x, r.y, r.width, r.height] : null;
}"""


def box(page: Page, selector: str) -> dict[str, float]:
    """Where the element is on screen, found and measured in one step in the page (the drawer
    renders again as its details arrive, replacing its elements)."""
    found = page.evaluate(BOX, selector)
    assert found is not None and found[2] > 0 and found[3] > 0, f"{selector} is not on screen"
    x, y, width, height = found
    return {"x": x, "y": y, "width": width, "height": height}


def centre(of: dict[str, float]) -> tuple[float, float]:
    return of["x"] + of["width"] / 2, of["y"] + of["height"] / 2


def hits(page: Page, point: tuple[float, float], selector: str) -> bool:
    """Whether the pointer at ``point`` is over an element matching ``selector``."""
    return bool(page.evaluate(HIT, [point[0], point[1], selector]))
