"""The alarm outbox and its sender against a real HTTP peer: delivery, refusal, retry, outage,
and persistence across a reopen."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_support import T0, TOKEN, AlarmPeer

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState, alarm_id_for
from gongzhi.core.clock import ManualClock
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.platform_client import PlatformClient, TokenSource


def alarm(device: str, onset: int = T0, state: AlarmState = AlarmState.RAISE) -> Alarm:
    return Alarm(alarm_id_for(device, "tamper", onset), AlarmKind.TAMPER, device, "e1", onset,
                 state, {"event": "tamper"})


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[AlarmOutbox]:
    box = AlarmOutbox(tmp_path / "outbox.db")
    box.open()
    try:
        yield box
    finally:
        box.close()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sender(outbox: AlarmOutbox, peer: AlarmPeer, tmp_path: Path,
           monotonic: FakeMonotonic) -> Iterator[AlarmSender]:
    client = PlatformClient(peer.url, TokenSource(None, tmp_path / "tokens.json"))
    (tmp_path / "tokens.json").write_text(f'{{"gateway": "{TOKEN}"}}')
    s = AlarmSender(outbox, client, GatewayMetrics(), ManualClock(), rng=random.Random(1),
                    min_backoff_s=1.0, max_backoff_s=8.0, monotonic=monotonic)
    try:
        yield s
    finally:
        client.close()


def test_queue_is_idempotent_by_alarm_id_and_state(outbox: AlarmOutbox) -> None:
    assert outbox.add([alarm("a"), alarm("b")], T0) == 2
    assert outbox.add([alarm("a"), alarm("a", state=AlarmState.CLEAR)], T0) == 1
    assert [e.alarm_id for e in outbox.pending()] == [alarm("a").alarm_id, alarm("b").alarm_id,
                                                      alarm("a").alarm_id]
    assert outbox.counts() == {"pending": 3, "sent": 0, "dead": 0}


def test_delivers_in_order_with_the_gateway_token(outbox: AlarmOutbox, sender: AlarmSender,
                                                  peer: AlarmPeer) -> None:
    outbox.add([alarm(d) for d in ("a", "b", "c")], T0)
    sender.run_once()
    assert [a["device_id"] for a in peer.deliveries] == ["a", "b", "c"]
    assert set(peer.auth) == {f"Bearer {TOKEN}"}
    assert outbox.counts() == {"pending": 0, "sent": 3, "dead": 0}
    assert peer.deliveries[0] == alarm("a").to_dict()


def test_refused_alarm_goes_dead_with_its_reason(outbox: AlarmOutbox, sender: AlarmSender,
                                                 peer: AlarmPeer) -> None:
    peer.refuse_ids.add(alarm("bad").alarm_id)
    outbox.add([alarm("bad"), alarm("good")], T0)
    sender.run_once()
    sender.run_once()
    assert outbox.counts() == {"pending": 0, "sent": 1, "dead": 1}
    [dead] = outbox.dead()
    assert dead["alarm_id"] == alarm("bad").alarm_id and dead["reason"].startswith("HTTP 422")


@pytest.mark.parametrize("status", [500, 503, 429, 408, 401])
def test_retryable_answers_are_retried_after_backoff(
        outbox: AlarmOutbox, sender: AlarmSender, peer: AlarmPeer, monotonic: FakeMonotonic,
        status: int) -> None:
    outbox.add([alarm("a"), alarm("b")], T0)
    peer.refuse_ids.add(alarm("b").alarm_id)
    peer.status = status
    wait = sender.run_once()
    assert 0.5 <= wait <= 1.0  # first backoff: half to all of min_backoff_s
    assert outbox.counts()["pending"] == 2
    peer.status = None
    sender.run_once()  # still backing off: nothing is sent
    assert outbox.counts()["pending"] == 2 and not peer.deliveries
    monotonic.now += 1.0  # past both alarms' backoff (at most min_backoff_s)
    sender.run_once()
    assert outbox.counts() == {"pending": 0, "sent": 1, "dead": 1}
    assert [a["device_id"] for a in peer.deliveries] == ["a"]


def test_outage_then_recovery_loses_nothing(tmp_path: Path, outbox: AlarmOutbox,
                                            sender: AlarmSender, peer: AlarmPeer) -> None:
    peer.down()
    outbox.add([alarm(f"d{i}") for i in range(20)], T0)
    wait = sender.run_once()
    assert 0.5 <= wait <= 1.0 and outbox.counts()["pending"] == 20
    assert sender.run_once() <= 2.0  # the second failure backs off longer
    # The gateway restarts during the outage: the outbox is on disk.
    outbox.close()
    outbox.open()
    peer.up()
    sender.run_once()
    assert sorted(a["device_id"] for a in peer.deliveries) == sorted(f"d{i}" for i in range(20))
    assert outbox.counts() == {"pending": 0, "sent": 20, "dead": 0}


def test_a_platform_without_batches_gets_one_alarm_per_request(
        outbox: AlarmOutbox, sender: AlarmSender, peer: AlarmPeer) -> None:
    peer.batch_status = 404
    outbox.add([alarm(d) for d in ("a", "b", "c")], T0)
    sender.run_once()
    assert not sender.batches
    assert [a["device_id"] for a in peer.deliveries] == ["a", "b", "c"]
    assert outbox.counts() == {"pending": 0, "sent": 3, "dead": 0}


def test_a_batch_refused_as_a_whole_is_sent_one_by_one(
        outbox: AlarmOutbox, sender: AlarmSender, peer: AlarmPeer) -> None:
    peer.batch_status = 413
    peer.refuse_ids.add(alarm("bad").alarm_id)
    outbox.add([alarm("good"), alarm("bad")], T0)
    sender.run_once()
    assert sender.batches  # the next batch is tried again
    assert outbox.counts() == {"pending": 0, "sent": 1, "dead": 1}
    assert outbox.dead()[0]["reason"].startswith("HTTP 422")


def test_an_alarm_to_retry_waits_while_the_rest_of_its_batch_is_sent(
        outbox: AlarmOutbox, sender: AlarmSender, peer: AlarmPeer,
        monotonic: FakeMonotonic) -> None:
    peer.retry_ids.add(alarm("later").alarm_id)
    outbox.add([alarm("a"), alarm("later"), alarm("b")], T0)
    wait = sender.run_once()
    assert 0.5 <= wait <= 1.0  # the backoff of the alarm to retry
    assert outbox.counts() == {"pending": 1, "sent": 2, "dead": 0}
    peer.retry_ids.clear()
    sender.run_once()  # still backing off
    assert outbox.counts()["pending"] == 1
    monotonic.now += 1.0
    sender.run_once()
    assert outbox.counts() == {"pending": 0, "sent": 3, "dead": 0}
    assert [a["device_id"] for a in peer.deliveries] == ["a", "b", "later"]
