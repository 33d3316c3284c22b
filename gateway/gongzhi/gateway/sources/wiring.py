"""The sources as the gateway service sees them: loaded from ``GONGZHI_SOURCES`` before
anything opens, a decoder that translates their messages, the acknowledgement router, their
health for ``/healthz`` and ``/readyz`` and their figures for ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gongzhi.core.clock import Clock
from gongzhi.core.settings import MqttTarget
from gongzhi.devices.registry import Registry
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import DeadLetter, RawMessage
from gongzhi.gateway.sources.config import load_sources
from gongzhi.gateway.sources.decoding import SourceDecoder
from gongzhi.gateway.sources.metrics import SourceMetrics
from gongzhi.gateway.sources.runtime import Ack, GatewayPlace, SourceSet


class SourceWiring:
    def __init__(self, sources: SourceSet) -> None:
        self.sources = sources
        self.metrics = sources.metrics
        self._decoder: SourceDecoder | None = None

    @classmethod
    def load(cls, path: Path, queue: IngestQueue, clock: Clock, gateway_id: str, home: Path,
             mqtt: MqttTarget, registry: CollectorRegistry | None = None) -> SourceWiring:
        """Read and check the sources file and build its sources (``ConfigError`` naming the
        file and line; no connection yet). ``home`` is the gateway's own folder: each source
        keeps its state in ``home/sources/<id>``. The sources' figures go into ``registry``
        (the gateway's), or one of their own."""
        configs = load_sources(path)
        place = GatewayPlace(queue=queue, clock=clock, gateway_id=gateway_id,
                             state_dir=home / "sources", mqtt=mqtt, config_dir=path.parent)
        return cls(SourceSet.build(configs, place, SourceMetrics(clock, registry)))

    def decoder(self, registry: Registry) -> SourceDecoder:
        self._decoder = SourceDecoder(registry, self.sources)
        return self._decoder

    def acker(self, own: Ack) -> Callable[[Sequence[RawMessage]], None]:
        sources = self.sources

        def ack(batch: Sequence[RawMessage]) -> None:
            sources.ack(batch, own)

        return ack

    def take_rejected(self) -> list[DeadLetter]:
        return [] if self._decoder is None else self._decoder.take_rejected()

    def start(self) -> None:
        self.sources.start()

    def close(self) -> None:
        self.sources.close()

    def health(self, problems: list[str]) -> dict[str, Any]:
        """Each source's state; a source that is down adds to ``problems`` (not ready)."""
        out: dict[str, Any] = {}
        for source_id in self.sources:
            health = self.metrics.health(source_id)
            age = self.metrics.last_message_age_ms(source_id)
            out[source_id] = {"up": health.up, "reason": health.reason,
                              "last_message_age_s": None if age is None else age / 1000}
            if not health.up:
                problems.append(f"source {source_id} is down: {health.reason or 'down'}")
        return out
