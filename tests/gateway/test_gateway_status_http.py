"""The gateway's status server over real HTTP on loopback: each endpoint's answer, bad input,
an endpoint that fails, a slow endpoint that holds up no other, a port in use, and a stop that
frees the port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.gateway.status_http import StatusEndpoints, StatusServer


class Fake:
    def __init__(self) -> None:
        self.health: dict[str, Any] = {"status": "ok", "mqtt_connected": True}
        self.letters: list[tuple[int, str | None]] = []
        self.release = threading.Event()
        self.slow = False

    def read_health(self) -> dict[str, Any]:
        if self.slow:
            self.release.wait(10)
        return dict(self.health)

    def dead_letters(self, limit: int, reason: str | None) -> list[dict[str, Any]]:
        self.letters.append((limit, reason))
        return [{"reason": reason or "not_json"}]

    def endpoints(self) -> StatusEndpoints:
        return StatusEndpoints(metrics=lambda: "gongzhi_gateway_up 1\n", health=self.read_health,
                               dead_letters=self.dead_letters,
                               dead_alarms=lambda limit: [{"limit": limit}])


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def server(fake: Fake) -> Iterator[StatusServer]:
    running = StatusServer("127.0.0.1", 0, fake.endpoints())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def url(server: StatusServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def test_every_endpoint_answers(server: StatusServer, fake: Fake) -> None:
    metrics = httpx.get(url(server, "/metrics"))
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert metrics.text == "gongzhi_gateway_up 1\n"
    assert httpx.get(url(server, "/healthz")).json() == fake.health
    assert httpx.get(url(server, "/readyz")).json() == {**fake.health, "ready": True}
    letters = httpx.get(url(server, "/dead-letters"), params={"limit": 5, "reason": "bad_seq"})
    assert letters.json() == [{"reason": "bad_seq"}]
    assert fake.letters == [(5, "bad_seq")]
    assert httpx.get(url(server, "/dead-alarms")).json() == [{"limit": 100}]


def test_not_ready_and_not_alive_are_503(server: StatusServer, fake: Fake) -> None:
    fake.health = {"status": "ok", "mqtt_connected": True, "problems": ["credential refused"]}
    assert httpx.get(url(server, "/healthz")).status_code == 200
    ready = httpx.get(url(server, "/readyz"))
    assert (ready.status_code, ready.json()["ready"]) == (503, False)
    fake.health = {"status": "ok", "mqtt_connected": False}
    assert httpx.get(url(server, "/readyz")).status_code == 503
    fake.health = {"status": "failing", "mqtt_connected": True}
    assert httpx.get(url(server, "/healthz")).status_code == 503


@pytest.mark.parametrize("limit", ["x", "0", "10001", "-1"])
def test_a_bad_limit_is_a_400_with_the_reason(server: StatusServer, limit: str) -> None:
    answer = httpx.get(url(server, "/dead-letters"), params={"limit": limit})
    assert answer.status_code == 400
    assert answer.json() == {"detail": "limit must be an integer from 1 to 10000"}


def test_unknown_paths_and_failing_endpoints(server: StatusServer, fake: Fake,
                                             caplog: pytest.LogCaptureFixture) -> None:
    missing = httpx.get(url(server, "/nothing"))
    assert (missing.status_code, missing.json()) == (404, {"detail": "not found"})
    assert httpx.post(url(server, "/metrics")).status_code == 405
    fake.health = None  # type: ignore[assignment]  # dict(None): the endpoint raises
    failed = httpx.get(url(server, "/healthz"))
    assert (failed.status_code, failed.json()) == (500, {"detail": "internal error"})
    assert "status endpoint /healthz failed" in caplog.text


def test_a_slow_endpoint_holds_up_no_other(server: StatusServer, fake: Fake) -> None:
    fake.slow = True
    answers: list[int] = []
    waiting = threading.Thread(
        target=lambda: answers.append(httpx.get(url(server, "/healthz"), timeout=10).status_code))
    waiting.start()
    try:
        assert httpx.get(url(server, "/metrics"), timeout=5).status_code == 200
        assert answers == []  # the health check is still waiting
    finally:
        fake.release.set()
        waiting.join(10)
    assert answers == [200]


def test_a_port_in_use_fails_the_start_and_stop_frees_the_port(fake: Fake) -> None:
    first = StatusServer("127.0.0.1", 0, fake.endpoints())
    first.start()
    port = first.port
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            StatusServer("127.0.0.1", port, fake.endpoints()).start()
    finally:
        first.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", port))
