"""CTWing and OneNET push sources over real HTTP on loopback: the answer only once the message
is spooled, a retry spooled once, 401 for a bad signature or token (counted), 413 for a body
over the limit, 400 with the reason for a malformed one (kept, and a dead letter through the
pipeline), OneNET's URL verification, the spool surviving a restart, HTTPS."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gongzhi.core.clock import SystemClock
from gongzhi.core.config_kit import Secret
from gongzhi.core.errors import ConfigError, RejectedMessage
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.sources.ctwing import CtwingCarrier, CtwingOptions
from gongzhi.gateway.sources.http_push import PushSource
from gongzhi.gateway.sources.metrics import SourceMetrics
from gongzhi.gateway.sources.onenet import OnenetCarrier, OnenetOptions
from gongzhi.gateway.sources.onenet_decode import sign
from tests.gateway.gateway_support import wait_until
from tests.sources.child_support import ends_with_its_owner
from tests.sources.push_fixtures import (
    SMOKE_MAPPING,
    ctwing_data_report,
    ctwing_online_offline,
    onenet_datapoint,
    onenet_push,
    onenet_status,
    smoke_service_data,
)
from tests.sources.push_system import source_context

IMEI = "860374051096202"
DEV = "acf7baaee65e431eadfb8f5fe50e8b81"
TOKEN = "onenet-push-token"


class Harness:
    def __init__(self, tmp: Path, kind: str, **options: Any) -> None:
        self.queue = IngestQueue()
        self.metrics = SourceMetrics(SystemClock())
        self.context = replace(source_context("push", self.queue, tmp, self.metrics),
                               state_dir=tmp / "state")
        base = {"listen": "127.0.0.1:0", "mapping": SMOKE_MAPPING, **options}
        if kind == "ctwing":
            ctwing = CtwingOptions.model_validate(base)
            self.source = PushSource(self.context, ctwing, CtwingCarrier(ctwing.token))
            self.path = ctwing.path
        else:
            onenet = OnenetOptions.model_validate(
                {**base, "token": Secret(TOKEN, "test")})
            self.source = PushSource(self.context, onenet, OnenetCarrier(onenet.token))
            self.path = onenet.path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.source.port}{self.path}"

    def taken(self, expect: int, timeout_s: float = 10.0) -> list[RawMessage]:
        out: list[RawMessage] = []
        while len(out) < expect:
            batch = self.queue.take(expect - len(out), timeout_s=timeout_s)
            if not batch:
                break
            out += batch
        return out

    def counted(self, expect: float, name: str, **labels: str) -> float:
        """A counter once it has reached ``expect`` (the front end's process reports refusals
        and retries to this one as they happen; read right after an answer, the report may
        still be on its way), or after waiting for it in vain."""
        with contextlib.suppress(AssertionError):
            wait_until(lambda: self.sample(name, **labels) >= expect, timeout_s=5.0, what=name)
        return self.sample(name, **labels)

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"source": "push", **labels})
        return 0.0 if value is None else value


@pytest.fixture
def ctwing(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, "ctwing", token=Secret("ct-token", "test"))
    h.source.start()
    try:
        yield h
    finally:
        h.source.close()


@pytest.fixture
def onenet(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, "onenet")
    h.source.start()
    try:
        yield h
    finally:
        h.source.close()


def _registry() -> Registry:
    loc = Location("e1", "b1", "1", "3", "301")
    return Registry([DeviceRecord("s1", DeviceType.SMOKE, loc, external_id=IMEI),
                     DeviceRecord("s2", DeviceType.SMOKE, loc, external_id="5012")])


def test_ctwing_push_is_spooled_once_and_translated(ctwing: Harness) -> None:
    body = orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(2)))
    with httpx.Client() as client:
        assert client.post(ctwing.url, params={"token": "ct-token"}, content=body).status_code \
            == 200
        # The platform did not see the answer and delivers again: spooled once.
        assert client.post(ctwing.url, params={"token": "ct-token"}, content=body).status_code \
            == 200
        assert client.post(ctwing.url, params={"token": "nope"}, content=body).status_code \
            == 401
    (raw,) = ctwing.taken(1)
    assert ctwing.taken(1, timeout_s=0.3) == []
    assert raw.source == "push" and raw.payload == body
    assert ctwing.counted(1, "gongzhi_gateway_source_duplicates_total") == 1
    assert ctwing.counted(1, "gongzhi_gateway_source_refused_total", reason="bad_token") == 1
    telemetry, alarm = ctwing.source.translate(raw, _registry())
    assert telemetry.topic == "estate/e1/s1/telemetry"
    assert orjson.loads(telemetry.payload) == {"values": {"battery_pct": 100.0, "temp_c": 30.0},
                                               "ts": 1_767_225_600_000}
    assert alarm.topic == "estate/e1/s1/event"
    assert orjson.loads(alarm.payload)["event"] == "smoke_alarm"
    ctwing.source.ack([raw])


def test_ctwing_online_offline_and_an_unknown_device(ctwing: Harness) -> None:
    with httpx.Client(params={"token": "ct-token"}) as client:
        for body in (ctwing_data_report(IMEI, DEV, smoke_service_data(0)),
                     ctwing_online_offline(DEV, online=False),
                     ctwing_data_report("999999999999999", "other", smoke_service_data(0))):
            assert client.post(ctwing.url, content=orjson.dumps(body)).status_code == 200
    first, offline, stranger = ctwing.taken(3)
    registry = _registry()
    ctwing.source.translate(first, registry)  # remembers the deviceId's IMEI
    (status,) = ctwing.source.translate(offline, registry)
    assert status.topic == "estate/e1/s1/status" and status.payload == b"offline"
    with pytest.raises(RejectedMessage) as caught:
        ctwing.source.translate(stranger, registry)
    assert caught.value.reason == "unknown_device" and "999999999999999" in caught.value.detail


def test_malformed_is_400_with_its_reason_and_kept_for_the_dead_letters(ctwing: Harness) -> None:
    with httpx.Client(params={"token": "ct-token"}) as client:
        answer = client.post(ctwing.url, content=b'{"messageType": "dataReport"')
        assert answer.status_code == 400 and answer.text.startswith("not_json")
        shape = client.post(ctwing.url, content=orjson.dumps(
            {"messageType": "dataReport", "deviceId": DEV, "payload": {"APPdata": "AQ=="}}))
        assert shape.status_code == 400 and shape.text.startswith("bad_shape")
    bad_json, bad_shape = ctwing.taken(2)
    for raw, reason in ((bad_json, "not_json"), (bad_shape, "bad_shape")):
        with pytest.raises(RejectedMessage) as caught:
            ctwing.source.translate(raw, _registry())
        assert caught.value.reason == reason


def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    h = Harness(tmp_path, "ctwing", max_body=2048)
    h.source.start()
    try:
        with httpx.Client() as client:
            assert client.post(h.url, content=b"x" * 4096).status_code == 413

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
                for _ in range(8):
                    yield b"y" * 512

            assert client.post(h.url, content=chunks()).status_code == 413
        assert h.counted(2, "gongzhi_gateway_source_refused_total",
                        reason="payload_too_large") == 2
        assert h.taken(1, timeout_s=0.3) == []
    finally:
        h.source.close()


def test_a_spool_that_cannot_be_written_is_503_and_keeps_nothing(ctwing: Harness) -> None:
    """The platform must deliver again: a push is never answered 200 unless it is durable."""
    body = orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(2)))
    with sqlite3.connect(ctwing.context.state_dir / "push_spool.db") as other:
        other.execute("DROP TABLE pushes")  # every insert of the source now fails
    answer = httpx.post(ctwing.url, params={"token": "ct-token"}, content=body)
    assert answer.status_code == 503 and "deliver again" in answer.text
    assert ctwing.taken(1, timeout_s=0.3) == []


def test_the_push_port_answers_its_path_only(ctwing: Harness) -> None:
    body = orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(2)))
    with httpx.Client(params={"token": "ct-token"}) as client:
        ok = client.post(ctwing.url, content=body)
        assert (ok.status_code, ok.content) == (200, b"")  # no body: one write an answer
        assert client.get(ctwing.url).status_code == 200  # not a verification: plain 200
        elsewhere = client.post(ctwing.url + "/other", content=body)
        assert (elsewhere.status_code, elsewhere.text) == (404, "not found")
        put = client.put(ctwing.url, content=body)
        assert put.status_code == 405 and put.headers["allow"] == "GET, POST"
        assert "server" not in ok.headers
    (raw,) = ctwing.taken(1)
    assert raw.payload == body


def test_onenet_url_verification(onenet: Harness) -> None:
    with httpx.Client() as client:
        msg, nonce = "x7Yq2LwA", "abcdEFGH"
        good = client.get(onenet.url, params={"msg": msg, "nonce": nonce,
                                              "signature": sign(TOKEN, nonce, msg)})
        assert good.status_code == 200 and good.text == msg
        bad = client.get(onenet.url, params={"msg": msg, "nonce": nonce,
                                             "signature": sign("other", nonce, msg)})
        assert bad.status_code == 401
    assert onenet.counted(1, "gongzhi_gateway_source_refused_total", reason="bad_signature") == 1


def test_onenet_pushes_signed_and_not(onenet: Harness) -> None:
    rng = random.Random(7)
    batch = [onenet_datapoint(5012, "Alarm_Status", 2), onenet_status(5012, online=True)]
    with httpx.Client() as client:
        assert client.post(onenet.url, content=onenet_push(TOKEN, batch, rng)).status_code \
            == 200
        # OneNET retries with a new nonce: the same messages are spooled once.
        assert client.post(onenet.url, content=onenet_push(TOKEN, batch, rng)).status_code \
            == 200
        forged = client.post(onenet.url, content=onenet_push("not-the-token", batch, rng))
        assert forged.status_code == 401
    alarm, status = onenet.taken(2)
    assert onenet.taken(1, timeout_s=0.3) == []
    assert onenet.counted(2, "gongzhi_gateway_source_duplicates_total") == 2
    assert onenet.counted(1, "gongzhi_gateway_source_refused_total", reason="bad_signature") == 1
    (event,) = onenet.source.translate(alarm, _registry())
    assert event.topic == "estate/e1/s2/event"
    assert orjson.loads(event.payload)["event"] == "smoke_alarm"
    (online,) = onenet.source.translate(status, _registry())
    assert online.payload == b"online"


def test_spooled_pushes_not_done_are_handed_over_again_after_a_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path, "ctwing")
    h.source.start()
    bodies = [orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(0), ts=t))
              for t in (1_767_225_600_000, 1_767_225_601_000, 1_767_225_602_000)]
    try:
        with httpx.Client() as client:
            for body in bodies:
                assert client.post(h.url, content=body).status_code == 200
        first, *_ = h.taken(3)
        h.source.ack([first])  # only the first was committed by the pipeline
    finally:
        h.source.close()
    again = Harness(tmp_path, "ctwing")
    again.source.start()
    try:
        assert [r.payload for r in again.taken(2)] == bodies[1:]
        with httpx.Client() as client:  # and a retry of the done one is still recognised
            assert client.post(again.url, content=bodies[0]).status_code == 200
        assert again.taken(1, timeout_s=0.3) == []
    finally:
        again.source.close()


def test_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "push.crt", tmp_path / "push.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    h = Harness(tmp_path, "ctwing", tls_cert="push.crt", tls_key="push.key")
    h.source.start()
    try:
        body = orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(0)))
        url = h.url.replace("http://", "https://")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
            assert client.post(url, content=body).status_code == 200
        assert len(h.taken(1)) == 1
    finally:
        h.source.close()
    broken = Harness(tmp_path, "ctwing", tls_cert="push.crt", tls_key="push.crt")
    with pytest.raises(ConfigError):
        broken.source.start()


def test_a_front_end_that_ends_is_started_again_on_its_port(ctwing: Harness) -> None:
    """The port's process killed: the source says so on its health, starts it again on the
    same port, and pushes are answered and handed over as before."""
    port = ctwing.source.port
    pid = ctwing.source.front_pid
    assert pid is not None and ctwing.source.health().up
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not ctwing.source.health().up, what="the front end reported down")
    assert "front end" in ctwing.source.health().reason
    wait_until(lambda: ctwing.source.health().up and ctwing.source.front_pid not in (None, pid),
               what="the front end started again")
    assert ctwing.source.port == port
    body = orjson.dumps(ctwing_data_report(IMEI, DEV, smoke_service_data(0)))
    answer = httpx.post(ctwing.url, params={"token": "ct-token"}, content=body)
    assert answer.status_code == 200
    (raw,) = ctwing.taken(1)
    assert raw.payload == body


OWNER = """
import sys, time
from pathlib import Path
from tests.sources.test_push_http import Harness
h = Harness(Path(sys.argv[1]), "ctwing")
h.source.start()
print(h.source.front_pid, flush=True)
time.sleep(600)
"""


def test_the_front_end_ends_with_its_gateway_however_it_ends(tmp_path: Path) -> None:
    """Its owner killed (no chance to stop it): the front end sees its pipe close and ends,
    leaving the port to the next start."""
    ends_with_its_owner(OWNER, str(tmp_path))
