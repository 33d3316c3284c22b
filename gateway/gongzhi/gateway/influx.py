"""Telemetry to InfluxDB 2 through influxdb-client's batching writer, behind a disk spool.

``write`` appends the batch's line protocol to the ``Spool`` (so the MQTT messages can be
acknowledged: nothing is lost if the gateway dies) and wakes the flusher. The flusher sends the
oldest spooled batches, coalesced up to ``chunk_points``, one request at a time (so replay is in
order) through the client's batching ``WriteApi``, whose callbacks are wired:

- success: the batches leave the spool; ``influx_points_written_total``;
- retry: counted (``influx_retries_total``), the client backs off by itself;
- error (retries exhausted): the batches stay spooled (``influx_write_failures_total``); the
  flusher stops sending and probes ``/ping`` with backoff; on recovery it replays oldest first.
  A 400/422 answer means the data itself is refused: a chunk of several batches is retried batch
  by batch, and a single refused batch is dropped and counted (``influx_points_dropped_total``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import WriteApi, WriteOptions
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from gongzhi.core.backoff import Backoff
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry
from gongzhi.gateway.line_protocol import to_lines
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.spool import Spool
from gongzhi.gateway.telemetry_store import TelemetryStore

log = logging.getLogger(__name__)

CHUNK_POINTS = 20_000
REFUSED_DATA = frozenset({400, 422})


class InfluxSink:
    def __init__(self, *, url: str, token: str | None, org: str, bucket: str, spool: Spool,
                 registry: Registry, metrics: GatewayMetrics, chunk_points: int = CHUNK_POINTS,
                 probe_min_s: float = 0.25, probe_max_s: float = 15.0,
                 write_options: WriteOptions | None = None,
                 rng: random.Random | None = None) -> None:
        self._url, self._token, self._org, self._bucket = url, token, org, bucket
        self.spool = spool
        self._registry = registry
        self._metrics = metrics
        self._chunk_points = chunk_points
        self._probe = Backoff(probe_min_s, probe_max_s, floor_s=probe_min_s / 2)
        self._options = write_options or WriteOptions(
            batch_size=1, flush_interval=50, retry_interval=500, max_retries=3,
            max_retry_delay=2_000, max_retry_time=6_000, exponential_base=2,
            max_close_wait=5_000)
        self._rng = rng or random.Random()
        self._client: InfluxDBClient | None = None
        self._write_api: WriteApi | None = None
        self._inflight: tuple[bytes, list[int], int] | None = None
        self._settled = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._healthy = True
        self._failures = 0
        self._one_at_a_time = False
        self._thread: threading.Thread | None = None

    @property
    def reachable(self) -> bool:
        return self._healthy

    def start(self) -> None:
        self._client = InfluxDBClient(url=self._url, token=self._token or "", org=self._org,
                                      timeout=10_000)
        self._write_api = self._client.write_api(
            write_options=self._options, success_callback=self._on_success,
            error_callback=self._on_error, retry_callback=self._on_retry)
        self._thread = threading.Thread(target=self._flush_loop, name="influx-flusher",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._settled.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._write_api is not None:
            self._write_api.close()  # type: ignore[no-untyped-call]
            self._write_api = None
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    def set_registry(self, registry: Registry) -> None:
        self._registry = registry

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        lines, points = to_lines(batch, self._registry)
        if points:
            dropped_before = self.spool.dropped_points
            self.spool.append(lines, points)
            self._wake.set()
            if self.spool.dropped_points > dropped_before:
                log.error("InfluxDB spool is full (%d bytes): oldest points dropped",
                          self.spool.bytes)
                self._metrics.inc("influx_points_dropped_total",
                                  self.spool.dropped_points - dropped_before)
        return points

    # --- the flusher thread --------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._flush_step()
            except Exception:  # keep flushing whatever one step hit (e.g. a disk error)
                log.exception("InfluxDB flusher step failed")
                self._stopping.wait(1.0)

    def _flush_step(self) -> None:
        if self._inflight is not None:
            self._settled.wait(0.5)
            return
        if not self._healthy:
            assert self._client is not None
            if self._client.ping():
                log.info("InfluxDB at %s is reachable again; replaying %d spooled points",
                         self._url, self.spool.points)
                self._healthy, self._failures = True, 0
            else:
                self._failures += 1
                self._stopping.wait(self._probe.delay(self._failures, self._rng))
                return
        batches = self.spool.oldest(1 if self._one_at_a_time else self._chunk_points,
                                    hold=True)
        if not batches:
            self._wake.wait(1.0)
            self._wake.clear()
            return
        chunk = b"\n".join(b.lines for b in batches)
        self._settled.clear()
        self._inflight = (chunk, [b.id for b in batches], sum(b.points for b in batches))
        assert self._write_api is not None
        self._write_api.write(self._bucket, self._org, record=chunk,
                              write_precision=WritePrecision.MS)  # type: ignore[arg-type]

    # --- client callbacks (the client's scheduler thread) --------------------------------

    def _take_inflight(self, data: Any) -> tuple[bytes, list[int], int] | None:
        inflight = self._inflight
        if inflight is None or bytes(data) != inflight[0]:
            log.error("InfluxDB callback for a batch not in flight; ignored")
            return None
        return inflight

    def _settle(self) -> None:
        self.spool.release()
        self._inflight = None
        self._settled.set()

    def _on_success(self, conf: tuple[str, str, str], data: Any) -> None:
        inflight = self._take_inflight(data)
        if inflight is None:
            return
        _, ids, points = inflight
        self.spool.delete(ids)
        self._one_at_a_time = False
        self._metrics.inc("influx_points_written_total", points)
        self._settle()

    def _on_error(self, conf: tuple[str, str, str], data: Any, exc: Exception) -> None:
        inflight = self._take_inflight(data)
        if inflight is None:
            return
        _, ids, points = inflight
        self._metrics.inc("influx_write_failures_total")
        status = exc.status if isinstance(exc, ApiException) else None
        if status in REFUSED_DATA:
            if len(ids) > 1:
                self._one_at_a_time = True  # find the refused batch; the others go through
            else:
                log.error("InfluxDB refused a batch of %d points (HTTP %s): %s; dropped",
                          points, status, getattr(exc, "body", exc))
                self.spool.delete(ids)
                self._metrics.inc("influx_points_dropped_total", points)
        else:
            log.warning("InfluxDB write failed (%s); %d points stay spooled", exc,
                        self.spool.points)
            self._healthy = False
        self._settle()

    def _on_retry(self, conf: tuple[str, str, str], data: Any, exc: Exception) -> None:
        self._metrics.inc("influx_retries_total")


class FanOutSink:
    """Telemetry to InfluxDB and to the embedded store (the platform's recent trends)."""

    def __init__(self, store: TelemetryStore, influx: InfluxSink) -> None:
        self.store = store
        self.influx = influx

    def write(self, batch: Sequence[Telemetry], now_ms: int) -> int:
        self.influx.write(batch, now_ms)
        return self.store.write(batch, now_ms)

    def prune(self, now_ms: int) -> int:
        return self.store.prune(now_ms)

    def set_registry(self, registry: Registry) -> None:
        self.influx.set_registry(registry)


def open_influx_sink(settings: Settings, telemetry_path: Path, spool_path: Path,
                     registry: Registry, metrics: GatewayMetrics
                     ) -> tuple[FanOutSink, Callable[[], None]]:
    assert settings.influx_url is not None
    spool = Spool(spool_path, max_bytes=settings.influx_spool_max_bytes)
    spool.open()
    influx = InfluxSink(url=settings.influx_url, token=settings.influx_token,
                        org=settings.influx_org, bucket=settings.influx_bucket, spool=spool,
                        registry=registry, metrics=metrics)
    store = TelemetryStore(telemetry_path)
    store.open()
    influx.start()
    metrics.gauge("spool_bytes", "bytes of telemetry spooled to disk for InfluxDB",
                  lambda: spool.bytes)
    metrics.gauge("spool_points", "telemetry points spooled to disk for InfluxDB",
                  lambda: spool.points)
    metrics.gauge("influx_reachable", "1 while InfluxDB takes writes",
                  lambda: float(influx.reachable))

    def close() -> None:
        influx.close()
        spool.close()
        store.close()

    return FanOutSink(store, influx), close
