"""What every outside source is: the ``Source`` protocol, its health, what it is given to run
(``SourceContext``) and how a kind is declared (``SourceKind``). See the package docstring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel

from gongzhi.core.clock import Clock
from gongzhi.core.settings import MqttTarget
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """``up``: the source can receive (connected, listening, polling); ``reason`` says why not."""

    up: bool
    reason: str = ""


class Source(Protocol):
    """An outside source of device messages.

    ``start`` opens its connection or server and returns at once (threads of its own); what it
    takes it puts on the ingest queue as ``RawMessage(..., source=<id>)`` in its own format.
    The ingest worker calls ``translate`` for each such message (worker thread, never
    concurrently) and feeds what it returns to the pipeline; once the batch is committed,
    ``ack`` is called with the source's messages of the batch in arrival order (storer thread).
    ``close`` stops it (messages taken and not acknowledged are the outside system's to
    deliver again). ``health`` is read by ``/readyz`` and ``/metrics`` (any thread)."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def translate(self, raw: RawMessage, registry: Registry) -> Sequence[RawMessage]:
        """Our native contract messages (``native_*``) for one outside message; ``[]`` for one
        that carries nothing to keep (a duplicate, a join without news). Raises
        ``RejectedMessage`` (a dead letter with its reason) for one that cannot be used."""
        ...

    def ack(self, messages: Sequence[RawMessage]) -> None: ...

    def health(self) -> SourceHealth: ...


class SourceCounters(Protocol):
    """A source's own counters (``SourceMetrics.counters(source_id)``)."""

    def duplicate(self, count: int = 1) -> None: ...

    def ignored(self, what: str, count: int = 1) -> None: ...

    def refused(self, reason: str, count: int = 1) -> None:
        """Outside messages turned away before the pipeline, with no dead letter (an HTTP push
        with a bad signature or token, a body over the limit)."""
        ...


@dataclass(frozen=True)
class SourceContext:
    """What a source is given to run: where to put messages, the clock, its counters, a folder
    of its own for state that must survive a restart, the gateway's own broker (for a source on
    it), and the directory of the sources file (relative paths in options)."""

    source_id: str
    queue: IngestQueue
    clock: Clock
    counters: SourceCounters
    gateway_id: str
    state_dir: Path
    mqtt: MqttTarget
    config_dir: Path

    def put(self, topic: str, payload: bytes, *, mid: int = 0, qos: int = 0,
            generation: int = 0) -> RawMessage:
        """Hand one outside message to the pipeline (blocks while the queue is full)."""
        raw = RawMessage(topic, payload, self.clock.now_ms(), mid, qos, generation,
                         self.source_id)
        self.queue.put(raw)
        return raw


OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True)
class SourceKind(Generic[OptionsT]):
    """A kind of source: its name in the sources file, the pydantic model of its ``options``
    (``STRICT_CONFIG``; ``Secret`` for secrets) and how to build one from them."""

    name: str
    options: type[OptionsT]
    build: Callable[[SourceContext, OptionsT], Source]


# --- native contract messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NativeMessage(RawMessage):
    """A contract message made by ``native_*``: its device and its body (the ``payload``
    before serialisation) ride along, so the decoder validates it without looking the device
    up and parsing the payload again. The payload is there all the same (tests, logs)."""

    record: DeviceRecord | None = None
    channel: str = ""
    body: Any = None


def _topic(record: DeviceRecord, channel: str) -> str:
    return f"estate/{record.estate_id}/{record.device_id}/{channel}"


def _stamped(body: dict[str, Any], ts: int | str | None, seq: int | None) -> bytes:
    if ts is not None:
        body["ts"] = ts
    if seq is not None:
        body["seq"] = seq
    return orjson.dumps(body)


def native_telemetry(raw: RawMessage, record: DeviceRecord, values: dict[str, Any],
                     ts: int | str | None = None, seq: int | None = None) -> RawMessage:
    """A telemetry message of our contract (``{"ts", "seq", "values"}``) for ``record``."""
    body = {"values": values}
    return NativeMessage(_topic(record, "telemetry"), _stamped(body, ts, seq), raw.received_ms,
                         source=raw.source, record=record, channel="telemetry", body=body)


def native_event(raw: RawMessage, record: DeviceRecord, event: str,
                 detail: dict[str, Any] | None = None, ts: int | str | None = None,
                 seq: int | None = None) -> RawMessage:
    """An event message of our contract (``{"ts", "seq", "event", "detail"}``)."""
    body: dict[str, Any] = {"event": event}
    if detail:
        body["detail"] = detail
    return NativeMessage(_topic(record, "event"), _stamped(body, ts, seq), raw.received_ms,
                         source=raw.source, record=record, channel="event", body=body)


def native_status(raw: RawMessage, record: DeviceRecord, online: bool) -> RawMessage:
    """A presence message of our contract (``online`` / ``offline``)."""
    return RawMessage(_topic(record, "status"), b"online" if online else b"offline",
                      raw.received_ms, source=raw.source)
