"""Shared fixtures: private real services (Mosquitto on a free port from the project's own config,
a fresh PostgreSQL database) and a data directory per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from gongzhi.core.broker import free_port as free_port  # (the tests import it from here)
from gongzhi.core.broker import wait_for_port
from tests.gateway.gateway_support import AlarmPeer, Publisher
from tests.postgres_cluster import PostgresUnavailable, ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]
DEV_BROKER_CONF = ROOT / "deploy" / "mosquitto" / "dev.conf"

# The counts that fault tests record (``record_property``), printed at the end of the run: a
# test's own output is not shown when it runs in a worker process.
COUNTS = ("chaos", "privacy")
_counted: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _counted.extend(str(value) for name, value in report.user_properties if name in COUNTS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _counted:
        terminalreporter.section("counts of the fault tests")
        for line in _counted:
            terminalreporter.write_line(line)


@dataclass
class Broker:
    """A private Mosquitto: ``restart()`` stops and starts it on the same port."""

    port: int
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, 10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def make_broker(tmp: Path, extra: str = "") -> Broker:
    port = free_port()
    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text(DEV_BROKER_CONF.read_text() + f"\nlistener {port} 127.0.0.1\n" + extra)
    return Broker(port=port, conf=conf)


@contextlib.contextmanager
def started_broker(tmp: Path, extra: str = "") -> Iterator[Broker]:
    """``make_broker(tmp, extra)`` started, and stopped at the end of the block."""
    b = make_broker(tmp, extra)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto for one test, started from deploy/mosquitto/dev.conf."""
    with started_broker(tmp_path) as b:
        yield b


@pytest.fixture
def peer() -> Iterator[AlarmPeer]:
    """A real HTTP server standing in for the platform's alarm endpoints."""
    p = AlarmPeer()
    p.up()
    try:
        yield p
    finally:
        p.down()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    """A device-side MQTT client on ``broker`` (QoS 1, waits for each PUBACK)."""
    pub = Publisher(broker.port)
    try:
        yield pub
    finally:
        pub.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


# An operator's server instead of the throwaway cluster: a URL whose user may create databases.
EXTERNAL_POSTGRES = os.environ.get("GONGZHI_TEST_POSTGRES")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin URL of this session's PostgreSQL: a throwaway cluster on a free port
    (tests/postgres_cluster.py), or the server named by GONGZHI_TEST_POSTGRES. Never the
    machine's own cluster by accident, never a password prompt."""
    if EXTERNAL_POSTGRES:
        yield EXTERNAL_POSTGRES
        return
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield cluster.admin_url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database of its own on this session's PostgreSQL (created and dropped)."""
    name = f"gz_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(postgres_server, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
