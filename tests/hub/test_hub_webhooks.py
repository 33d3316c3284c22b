"""Outbound webhooks to a party's own system: signed, retried with backoff from an outbox, never
in the way of ticket handling. The receiver is a real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
from hub_helpers import ApiFactory, alarm, free_port

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.hub.webhooks import backoff_ms, sign

SECRET = "police-webhook-secret"


class Receiver:
    """Answers 500 to the first ``failures`` requests, then 200; keeps what it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.received) < receiver.failures else 200
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(failures=2)
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    found.thread.join()


def _matrix_with_hook(path: Path, url: str) -> Path:
    default = resources.files("gongzhi.hub").joinpath("duty_matrix.yaml").read_text("utf-8")
    (path.parent / "police.secret").write_text(SECRET + "\n")
    path.write_text(default + f"webhooks:\n  police_room: {{url: '{url}', "
                              "secret: {file: police.secret}}\n")
    return path


def test_signed_retried_with_backoff_and_only_for_the_partys_tickets(
        make_api: ApiFactory, settings: Settings, clock: ManualClock, receiver: Receiver,
        data_dir: Path):
    matrix = _matrix_with_hook(data_dir / "matrix.yaml", receiver.url)
    api = make_api(settings=settings.model_copy(update={"duty_matrix": matrix}))
    sender = api.app.state.webhooks
    api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1"))  # not the police's
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-elderly"))["ticket_id"]

    assert sender.run_once() == 0  # 500
    assert sender.run_once() == 0  # not due again yet: nothing sent
    assert len(receiver.received) == 1
    clock.advance(backoff_ms(1) - 1)
    assert sender.run_once() == 0 and len(receiver.received) == 1
    clock.advance(1)
    assert sender.run_once() == 0  # 500 again
    clock.advance(backoff_ms(2))
    assert sender.run_once() == 1
    assert [status for _, _, status in receiver.received] == [500, 500, 200]
    assert sender.run_once() == 0

    headers, body, _ = receiver.received[-1]
    stamp = int(headers["X-Gongzhi-Timestamp"])
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Gongzhi-Signature"] == "sha256=" + expected.hexdigest()
    message = json.loads(body)
    assert message["event"] == "ticket"
    assert message["ticket"]["id"] == tid
    assert message["ticket"]["phone"] == "138****1234"  # as the police room may see it
    assert all(json.loads(b)["ticket"]["kind"] == "tamper" for _, b, _ in receiver.received)
    metrics = api.client.get("/metrics").text
    assert 'gongzhi_webhook_deliveries_total{party="police_room",result="error"} 2' in metrics
    assert "gongzhi_webhook_backlog 0" in metrics


def test_a_dead_receiver_does_not_hold_up_tickets(make_api: ApiFactory, settings: Settings,
                                                  data_dir: Path):
    matrix = _matrix_with_hook(data_dir / "matrix.yaml", f"http://127.0.0.1:{free_port()}/x")
    api = make_api(settings=settings.model_copy(update={"duty_matrix": matrix}),
                   background=True)
    ids = {api.post_alarm(alarm(AlarmKind.TAMPER, d))["ticket_id"]
           for d in ("smk-young", "smk-b2", "el-301")}
    assert len(ids) == 3
    assert len(api.get("/api/tickets", "police_room").json()) == 3
    assert api.app.state.webhooks.run_once() == 0
    backlog = api.client.get("/metrics").text
    assert "gongzhi_webhook_backlog 3" in backlog


def test_backoff_and_signature():
    assert [backoff_ms(n) for n in (1, 2, 3, 10, 30)] == [1000, 2000, 4000, 300_000, 300_000]
    assert sign("k", 5, "{}") == "sha256=" + hmac.new(b"k", b"5.{}", hashlib.sha256).hexdigest()
