"""The Prometheus text exposition shared by the gateway and the platform (prometheus_client).

Each application keeps its metrics in a ``CollectorRegistry`` of its own, never the library's
global default registry, so several applications in one process (tests, replicas) do not share
figures and importing a module registers nothing.

- ``exposition(*collectors)`` renders them in the text format (``CONTENT_TYPE``), without the
  ``_created`` series prometheus_client adds beside every counter: one more series per label set,
  which nothing here reads.
- ``ScrapedGauges`` is a collector of gauges read from callables when ``/metrics`` is scraped
  (queue depth, outbox size), so they are never stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _Families(Collector):
    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            for family in collector.collect():
                kept = [s for s in family.samples if not s.name.endswith("_created")]
                if len(kept) != len(family.samples):
                    family = _copy(family, kept)
                yield family


def _copy(family: Metric, samples: list[Sample]) -> Metric:
    out = Metric(family.name, family.documentation, family.type, family.unit)
    out.samples = samples
    return out


def exposition(*collectors: Collector) -> str:
    """The text format of every metric the collectors (registries, or families) yield."""
    return generate_latest(_Families(collectors)).decode()


class Families(Collector):
    """Metric families computed by the caller (e.g. read from a store off the event loop), to
    render with a registry: ``exposition(registry, Families(found))``."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class ScrapedGauges(Collector):
    """Unlabelled gauges read at scrape time. A read that fails leaves its gauge out of that
    scrape: a store closing must not break ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def add(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Show ``read()`` as ``name``; a later ``add`` of the same name replaces it."""
        with self._lock:
            self._gauges[name] = (help_text, read)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            gauges = sorted(self._gauges.items())
        for name, (help_text, read) in gauges:
            try:
                value = float(read())
            except Exception:  # one broken gauge must not break the scrape
                continue
            yield GaugeMetricFamily(name, help_text, value=value)

    def describe(self) -> list[Metric]:
        return []  # names vary at run time: the registry must not collect to learn them
