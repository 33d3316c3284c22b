"""The pipeline's decoder with outside sources: a message a source took is translated by that
source into our contract's messages, each decoded and validated as if a device had sent it.

A refusal of the whole message (unknown device, nothing matched, not JSON...) is raised, so the
pipeline records it as a dead letter with the outside topic and payload. A refusal of one part
(one of an uplink's contract messages: a value out of range beside a smoke alarm) must not cost
the other parts: the parts that decode are kept and the refused ones wait in ``take_rejected``
for the worker to record as dead letters before the batch is acknowledged.
"""

from __future__ import annotations

import logging

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.messages import DeadLetter, DeviceMessage, RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import NativeMessage
from gongzhi.gateway.sources.runtime import SourceSet

log = logging.getLogger(__name__)


class SourceDecoder(Decoder):
    def __init__(self, registry: Registry, sources: SourceSet) -> None:
        super().__init__(registry)
        self._sources = sources
        self._rejected: list[DeadLetter] = []

    def decode(self, raw: RawMessage) -> list[DeviceMessage]:
        if not raw.source:
            return super().decode(raw)
        metrics = self._sources.metrics
        metrics.saw(raw.source, raw.received_ms)
        try:
            messages = self._translated(raw)
        except RejectedMessage as exc:
            metrics.reject(raw.source, exc.reason)
            raise
        except Exception:  # the pipeline records it as internal_error; counted here too
            metrics.reject(raw.source, Reason.INTERNAL_ERROR)
            raise
        if messages:
            metrics.accept(raw.source)
        return messages

    def take_rejected(self) -> list[DeadLetter]:
        """The parts refused since the last call (worker thread)."""
        rejected, self._rejected = self._rejected, []
        return rejected

    def _translated(self, raw: RawMessage) -> list[DeviceMessage]:
        source = self._sources.get(raw.source)
        if source is None:  # the sources file changed under a message in flight
            raise RejectedMessage(Reason.INTERNAL_ERROR, f"no source {raw.source!r} any more")
        natives = source.translate(raw, self.registry)
        out: list[DeviceMessage] = []
        refused: list[tuple[RawMessage, RejectedMessage]] = []
        for native in natives:
            try:
                if type(native) is NativeMessage and native.record is not None:
                    out += self._native(native, native.record)
                else:
                    out += super().decode(native)
            except RejectedMessage as exc:
                refused.append((native, exc))
        if refused and not out:
            first, why = refused[0]
            self._keep(raw, refused[1:])
            raise RejectedMessage(why.reason, f"{first.topic}: {why.detail}"[:1000])
        self._keep(raw, refused)
        return out

    def _native(self, native: NativeMessage, record: DeviceRecord) -> list[DeviceMessage]:
        """``decode`` of a message ``native_*`` made, without parsing its payload again: the
        same checks on the same body (the device came from this registry)."""
        if native.channel == "telemetry":
            return [self._telemetry(record, native, native.body)]
        if native.channel == "event":
            return [self._event(record, native, native.body)]
        return super().decode(native)

    def _keep(self, raw: RawMessage, refused: list[tuple[RawMessage, RejectedMessage]]) -> None:
        for native, exc in refused:
            self._rejected.append(DeadLetter(
                raw.topic, raw.payload, raw.received_ms, exc.reason,
                f"source {raw.source}: part {native.topic} refused, the rest kept: "
                f"{exc.detail}"[:1000]))
            self._sources.metrics.reject(raw.source, exc.reason)
