"""A gateway's sources at run time: built from the sources file, started and closed with the
gateway, each message's acknowledgement routed to the source that took it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.clock import Clock
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import MqttTarget
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.sources.base import Source, SourceContext
from gongzhi.gateway.sources.config import SourceConfig
from gongzhi.gateway.sources.metrics import SourceMetrics

log = logging.getLogger(__name__)

Ack = Callable[[Sequence[RawMessage]], None]


@dataclass(frozen=True)
class GatewayPlace:
    """Where the sources run: the gateway's queue, clock, id, state folder and own broker."""

    queue: IngestQueue
    clock: Clock
    gateway_id: str
    state_dir: Path
    mqtt: MqttTarget
    config_dir: Path


class SourceSet:
    def __init__(self, sources: dict[str, Source], metrics: SourceMetrics) -> None:
        self._sources = sources
        self.metrics = metrics
        self._started: list[Source] = []

    @classmethod
    def build(cls, configs: Sequence[SourceConfig], place: GatewayPlace,
              metrics: SourceMetrics) -> SourceSet:
        """Build the enabled sources (no I/O: ``start`` connects)."""
        sources: dict[str, Source] = {}
        for config in configs:
            if not config.enabled:
                log.info("source %s (%s) is disabled", config.id, config.kind.name)
                continue
            context = SourceContext(
                source_id=config.id, queue=place.queue, clock=place.clock,
                counters=metrics.counters(config.id), gateway_id=place.gateway_id,
                state_dir=place.state_dir / config.id, mqtt=place.mqtt,
                config_dir=place.config_dir)
            try:
                source = config.kind.build(context, config.options)
            except ConfigError as exc:
                raise ConfigError(f"source {config.id}: {exc}", source=config.where) from None
            sources[config.id] = source
            stale_ms = None if config.stale_after_s is None else round(
                config.stale_after_s * 1000)
            metrics.track(config.id, source.health, stale_ms)
        return cls(sources, metrics)

    def __len__(self) -> int:
        return len(self._sources)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def get(self, source_id: str) -> Source | None:
        return self._sources.get(source_id)

    def start(self) -> None:
        for source_id, source in self._sources.items():
            source.start()
            self._started.append(source)
            log.info("source %s started", source_id)

    def close(self) -> None:
        started, self._started = self._started, []
        for source in reversed(started):
            try:
                source.close()
            except Exception:
                log.exception("error while closing a source")

    def ack(self, batch: Sequence[RawMessage], own: Ack) -> None:
        """Acknowledge a committed batch: our own contract's messages through ``own``, each
        source's through that source (arrival order kept within each)."""
        mine: list[RawMessage] = []
        theirs: dict[str, list[RawMessage]] = {}
        for raw in batch:
            if raw.source:
                theirs.setdefault(raw.source, []).append(raw)
            else:
                mine.append(raw)
        if mine:
            own(mine)
        for source_id, messages in theirs.items():
            source = self._sources.get(source_id)
            if source is None:
                continue
            try:
                source.ack(messages)
            except Exception:  # an ack that fails is redelivered: never stop the storer
                log.exception("source %s failed to acknowledge %d messages", source_id,
                              len(messages))

    def down(self) -> dict[str, str]:
        return self.metrics.down()
