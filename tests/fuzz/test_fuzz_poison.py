"""Property-based fuzzing of the whole path a device message takes, in one process: payload ->
decode -> pipeline (dedup, detection, the embedded telemetry store, dead letters) -> outbox ->
the alarm sender -> the real platform's ``POST /api/alarms`` (uvicorn on a free port, SQLite).

One device sends anything (lone surrogates anywhere, deep and wide nesting, huge and non-finite
numbers); in the same batch another device sends a smoke alarm. Whatever the first sends: the
batch is handled at once (never retried as an outage), each of its messages is either taken or
a counted dead letter, the other device's alarm reaches the outbox, and the platform takes every
alarm the gateway queued (no 5xx, no refusal)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongzhi.core.clock import SystemClock
from gongzhi.devices.registry import Registry
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.pipeline import IngestPipeline
from gongzhi.gateway.platform_client import PlatformClient, TokenSource
from gongzhi.gateway.telemetry_store import TelemetryStore
from tests.fuzz.poison_corpus import poison_corpus
from tests.pages.pages_support import ESTATE, Platform, estate_registry, running_platform

pytestmark = pytest.mark.integration

ATTACKER, VICTIM = "smk-1-1-1", "smk-2-1-1"
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Text with everything a JSON string can carry, lone surrogates and NUL included.
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([2**53, 2**63, 2**64, 10**30, -(10**30), 1e308]))
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(any_text, inner, max_size=6)), max_leaves=40)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A detail nested some levels, or very many, deep; or very wide."""
    depth = draw(st.sampled_from([3, 4, 5, 8, 50, 254, 300, 900]))
    leaf: Any = draw(scalars)
    for _ in range(depth):
        leaf = {draw(any_text): leaf} if draw(st.booleans()) else [leaf]
    if draw(st.booleans()):
        return leaf
    width = draw(st.sampled_from([10, 300, 3000]))
    return {f"k{i}": i for i in range(width)}


@st.composite
def attacker_payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    channel = draw(st.sampled_from(["event", "event", "telemetry", "status"]))
    body: dict[str, Any] = {
        "ts": draw(st.one_of(st.just(SystemClock().now_ms()), numbers, any_text)),
        "seq": draw(st.one_of(st.integers(min_value=0, max_value=2**40), numbers, any_text)),
    }
    if channel == "event":
        body["event"] = draw(st.one_of(st.sampled_from(["smoke_alarm", "tamper", "fault"]),
                                       any_text))
        body["detail"] = draw(st.one_of(values, nested()))
    else:
        body["values"] = draw(st.dictionaries(
            st.one_of(st.sampled_from(["smoke_db_m", "battery_pct"]), any_text),
            st.one_of(numbers, values), max_size=4))
    if draw(st.booleans()):
        body[draw(any_text)] = draw(values)
    try:
        text = json.dumps(body, allow_nan=True)  # surrogates as \\uXXXX escapes, NaN literals
    except (RecursionError, ValueError):
        text = "{}"
    return f"estate/{ESTATE}/{ATTACKER}/{channel}", text.encode()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        yield running


class Path_:
    """The gateway's side, on real stores in a temporary directory."""

    def __init__(self, home: Path, platform: Platform) -> None:
        self.clock = SystemClock()
        self.metrics = GatewayMetrics()
        self.outbox = AlarmOutbox(home / "outbox.db")
        self.dead_letters = DeadLetterStore(home / "dead_letters.db")
        self.store = TelemetryStore(home / "telemetry.db")
        for part in (self.outbox, self.dead_letters, self.store):
            part.open()
        registry = Registry(estate_registry())
        self.stopping = threading.Event()
        self.pipeline = IngestPipeline(
            decoder=Decoder(registry), detector=DetectionEngine(registry), sink=self.store,
            outbox=self.outbox, dead_letters=self.dead_letters, states=DeviceStateTracker(),
            metrics=self.metrics, clock=self.clock, stopping=self.stopping, retry_s=0.001)
        self.client = PlatformClient(platform.url,
                                     TokenSource(platform.tokens["gateway"], home / "none.json"))
        self.sender = AlarmSender(self.outbox, self.client, self.metrics, self.clock)

    def close(self) -> None:
        self.client.close()
        for part in (self.store, self.dead_letters, self.outbox):
            part.close()


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory, platform: Platform) -> Iterator[Path_]:
    made = Path_(tmp_path_factory.mktemp("gateway"), platform)
    try:
        yield made
    finally:
        made.close()


SEQ = itertools.count(1)


def handle(path: Path_, attacker: list[tuple[str, bytes]]) -> None:
    """One batch: the attacker's messages around the victim's smoke alarm; then delivery."""
    now = path.clock.now_ms()
    victim = RawMessage(f"estate/{ESTATE}/{VICTIM}/event", json.dumps(
        {"ts": now, "seq": next(SEQ), "event": "smoke_alarm", "detail": {"n": 1}}).encode(), now)
    half = len(attacker) // 2
    batch = ([RawMessage(t, p, now) for t, p in attacker[:half]] + [victim]
             + [RawMessage(t, p, now) for t, p in attacker[half:]])
    m = path.metrics
    received = m.total("messages_received_total")
    taken = m.total("messages_processed_total") + m.total("duplicates_total")
    rejected = m.total("messages_rejected_total")
    dropped = m.total("event_details_dropped_total")
    letters = path.dead_letters.count()
    retries = m.total("storage_retries_total")
    alarms = path.pipeline.handle(batch)

    assert m.total("storage_retries_total") == retries, "a message was retried as an outage"
    assert m.total("messages_received_total") - received == len(batch)
    new_letters = path.dead_letters.count() - letters
    new_rejected = m.total("messages_rejected_total") - rejected
    # Every letter is counted once: a refused message, or an event kept without its detail.
    assert new_rejected + m.total("event_details_dropped_total") - dropped == new_letters
    handled = (m.total("messages_processed_total") + m.total("duplicates_total") - taken
               + new_rejected)
    assert handled == len(batch)
    assert any(a.device_id == VICTIM for a in alarms), "the other device's alarm was lost"

    path.sender.run_once()
    counts = path.outbox.counts()
    assert counts["pending"] == 0 and counts["dead"] == 0, path.outbox.dead()


@FUZZ
@given(st.lists(attacker_payloads(), min_size=1, max_size=4))
def test_anything_one_device_sends_never_holds_back_another(
        path: Path_, payloads: list[tuple[str, bytes]]) -> None:
    handle(path, payloads)


def test_the_poison_corpus_in_one_batch(path: Path_) -> None:
    corpus = poison_corpus(ATTACKER, ESTATE, path.clock.now_ms())
    letters = path.dead_letters.count()
    handle(path, corpus)
    assert path.dead_letters.count() - letters == len(corpus)
