"""Helpers for the outside-source tests of this folder: the real system (`gongzhi platform`,
`gongzhi gateway` with a sources file) on the e2e harness's estate, and a source's context for
a source run on its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gongzhi.core.clock import SystemClock
from gongzhi.core.settings import MqttTarget
from gongzhi.devices.registry import write_registry
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.sources.base import SourceContext
from gongzhi.gateway.sources.metrics import SourceMetrics
from tests.chaos.chaos_support import start_gateway, start_platform
from tests.conftest import free_port
from tests.e2e.harness import System, make_system, small_registry


def start_with_sources(root: Path, broker_url: str, external: dict[str, str],
                       sources_yaml: str) -> System:
    """The platform and a gateway whose registry gives ``external`` ids (device id -> outside
    id) and whose sources file is ``sources_yaml`` (written beside the registry)."""
    sysm = make_system(root, broker_url, free_port)
    write_registry(sysm.root / "registry.csv",
                   [replace(r, external_id=external.get(r.device_id)) for r in small_registry()])
    sources = sysm.root / "sources.yaml"
    sources.write_text(sources_yaml)
    sysm.add("platform", "platform")
    sysm.add("gateway", "gateway").env["GONGZHI_SOURCES"] = str(sources)
    start_platform(sysm)  # generous deadlines: the machine may be busy
    start_gateway(sysm)
    return sysm


def source_context(source_id: str, queue: IngestQueue, folder: Path,
                   metrics: SourceMetrics | None = None) -> SourceContext:
    """What a source is given, for one run on its own: ``queue`` takes its messages."""
    clock = SystemClock()
    counters = (metrics or SourceMetrics(clock)).counters(source_id)
    return SourceContext(source_id, queue, clock, counters, "gateway", folder,
                         MqttTarget(host="127.0.0.1", port=1), folder)
