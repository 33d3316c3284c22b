"""What the page tests drive: a real platform (uvicorn in a thread, SQLite in a temporary
directory, a small estate's registry, a tokens file) that can be stopped and started again, and
helpers for a headless Debian chromium driven by Playwright (no browser is ever downloaded)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import Clock, SystemClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ESTATE = "yijing"
WALL_SIZE = {"width": 1920, "height": 1080}


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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.app = create_app(self.settings, self.clock, background=False, keepalive_s=2.0,
                              poll_s=0.05)
        # Where the trends find the telemetry store.
        self.app.state.settings = self.settings
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

    def raise_alarm(self, kind: AlarmKind, device_id: str, **evidence: Any) -> int:
        """POST an alarm as the gateway does; returns the ticket id."""
        alarm = Alarm(alarm_id=f"al-page-{next(self.alarm_ids)}-{time.time_ns()}", kind=kind,
                      device_id=device_id, estate_id=ESTATE, ts_ms=self.clock.now_ms(),
                      evidence=evidence or {"rule": "test"})
        with httpx.Client(base_url=self.url, timeout=10) as client:
            response = client.post("/api/alarms", json=alarm.to_dict(),
                                   headers=self.auth("gateway"))
        assert response.status_code == 200, response.text
        ticket_id = response.json()["ticket_id"]
        assert isinstance(ticket_id, int)
        return ticket_id

    def get(self, path: str, party: str, **params: Any) -> Any:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            response = client.get(path, headers=self.auth(party), params=params)
        assert response.status_code == 200, response.text
        return response.json()


def make_platform(directory: Path, clock: Clock | None = None) -> Platform:
    directory.mkdir(parents=True, exist_ok=True)
    tokens = new_tokens()
    write_tokens(directory / "tokens.json", tokens)
    write_registry(directory / "registry.csv", estate_registry())
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'platform.db'}")
    return Platform(settings, tokens, free_port(), clock or SystemClock())



def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    """A fresh 1920×1080 tab (own session storage) that records script errors."""
    context = browser.new_context(viewport=WALL_SIZE, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    return page


def sign_in(page: Page, token: str) -> None:
    page.locator("#signin-token").fill(token)
    page.locator("#signin-form button[type=submit]").click()
    page.wait_for_selector("body[data-loaded='1']", timeout=10_000)
    page.wait_for_selector("body[data-conn='live']", timeout=10_000)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
