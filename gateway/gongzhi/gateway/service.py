"""The whole gateway in one object, for the ``gongzhi gateway`` command, the demo and the tests.

``GatewayService(settings, clock).start()`` opens the stores, loads the registry and starts the
HTTP status server, the alarm sender, the device-state and health reporters, the ingest worker
and the MQTT transport, and the outside sources of ``GONGZHI_SOURCES`` if any (their messages
go through the same worker and pipeline: ``gongzhi.gateway.sources``); ``stop()`` undoes it in
reverse. The worker takes batches from the queue, runs them through the pipeline, then
acknowledges them; it ticks detection about once a second, reloads the registry when its file
changes and prunes the stores.

Files: ``<data_dir>/telemetry.db`` (shared by replicas, read by the platform) and, per gateway
id, ``<data_dir>/gateway/<id>/{outbox,dead_letters,influx_spool,welfare}.db`` (``welfare.db``: what
the welfare rule learned, kept across starts: ``welfare_records``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from gongzhi.core.clock import Clock, SystemClock
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.devices.registry_watch import RegistryWatch
from gongzhi.gateway.alarm_sender import AlarmSender
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.device_states import DeviceStateReporter, DeviceStateTracker
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.ingest_worker import IngestWorker
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.mqtt import MqttIngest
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.pipeline import Detector, IngestPipeline, StopRequested, TelemetrySink
from gongzhi.gateway.platform_client import PlatformClient, TokenSource
from gongzhi.gateway.sinks import open_sink
from gongzhi.gateway.status_http import StatusEndpoints, StatusServer
from gongzhi.gateway.status_report import StatusReporter
from gongzhi.gateway.subscriptions import device_filters
from gongzhi.gateway.welfare_history import (
    RowReader,
    WelfareLearner,
    learn_from_history,
    owned_households,
)
from gongzhi.gateway.welfare_records import FILE_NAME as WELFARE_FILE
from gongzhi.gateway.welfare_records import WelfareRecords, open_kept
from gongzhi.telemetry.embedded import telemetry_db_path

if TYPE_CHECKING:
    from gongzhi.gateway.sources.wiring import SourceWiring

log = logging.getLogger(__name__)

# The platform's bounds on a health report's problems (``routes/operations.py``).
MAX_PROBLEMS = 20
MAX_PROBLEM_CHARS = 500

TICK_S = 1.0
REGISTRY_CHECK_S = 1.0
MAINTENANCE_S = 600.0
# Messages waiting this long with no batch acknowledged: the worker is stalled (not ready). The
# alarm transmission norm (GB 26875.1) is 10 s.
STALL_AFTER_MS = 10_000

DetectorFactory = Callable[[Registry], Detector]


def default_detector(registry: Registry) -> Detector:
    # The engine lives in its own package.
    from gongzhi.gateway.detection import DetectionEngine
    from gongzhi.gateway.detection.warm import compile_rules

    compile_rules()  # before the stream: the first message is not held while it compiles
    engine: Detector = DetectionEngine(registry)
    return engine


def gateway_id(settings: Settings) -> str:
    if settings.gateway_id:
        return settings.gateway_id
    partition = Partition.parse(settings.gateway_partition)
    return "gateway" if partition.is_whole else f"gateway-p{partition.index}"


def share_group(settings: Settings) -> str | None:
    """The MQTT 5 shared-subscription group. With a static partition the group is per share
    (``<group>-<INDEX>of<COUNT>``): replicas of one share split its stream (on a broker with a
    hash strategy, EMQX), while every share still receives all messages to pick its own."""
    if not settings.gateway_group:
        return None
    partition = Partition.parse(settings.gateway_partition)
    if partition.is_whole:
        return settings.gateway_group
    return f"{settings.gateway_group}-{partition.index}of{partition.count}"


class GatewayService:
    def __init__(self, settings: Settings, clock: Clock | None = None, *,
                 detector_factory: DetectorFactory = default_detector,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.gateway_id = gateway_id(settings)
        self.partition = Partition.parse(settings.gateway_partition)
        self.share_group = share_group(settings)
        self.metrics = GatewayMetrics()
        self.queue = IngestQueue()
        self._detector_factory = detector_factory
        self._rng = rng or random.Random()
        home = settings.data_dir / "gateway" / self.gateway_id
        self.outbox = AlarmOutbox(home / "outbox.db")
        self.dead_letters = DeadLetterStore(home / "dead_letters.db")
        self._spool_path = home / "influx_spool.db"
        self._welfare_path = home / WELFARE_FILE
        self.welfare_records: WelfareRecords | None = None
        self._welfare_keys: set[str] = set()  # the households whose learned days are kept
        self._welfare_status: dict[str, Any] = {}  # for the health report
        self.states = DeviceStateTracker()
        self._registry = RegistryWatch(settings.registry_path, self.clock)
        self._stopping = threading.Event()
        self._reload_requested = threading.Event()
        self.worker: IngestWorker | None = None
        self._started: list[Callable[[], None]] = []  # stop actions, in start order
        self.pipeline: IngestPipeline | None = None
        self.sink: TelemetrySink | None = None
        self.mqtt: MqttIngest | None = None
        self.http: StatusServer | None = None
        self.sender: AlarmSender | None = None
        self.client: PlatformClient | None = None
        self.sources: SourceWiring | None = None  # GONGZHI_SOURCES' (imported only then)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        s = self.settings
        registry = self._registry.load()
        if s.sources is not None:  # before anything opens: a bad file stops the start
            if not self.partition.is_whole:
                raise ConfigError("GONGZHI_SOURCES needs a gateway that owns every estate (no "
                                  "GONGZHI_GATEWAY_PARTITION, one worker): an outside source's "
                                  "messages are not split by estate")
            from gongzhi.gateway.sources.wiring import SourceWiring

            self.sources = SourceWiring.load(
                s.sources, self.queue, self.clock, self.gateway_id,
                s.data_dir / "gateway" / self.gateway_id, s.mqtt, self.metrics.registry)
        for store in (self.outbox, self.dead_letters):
            store.open()
            self._started.append(store.close)
        sink, close_sink = open_sink(s, telemetry_db_path(s), self._spool_path, registry,
                                     self.metrics)
        self.sink = sink
        self._started.append(close_sink)
        decoder = Decoder(registry) if self.sources is None else self.sources.decoder(registry)
        self.pipeline = IngestPipeline(
            decoder=decoder, detector=self._detector_factory(registry), sink=sink,
            outbox=self.outbox, dead_letters=self.dead_letters, states=self.states,
            metrics=self.metrics, clock=self.clock, partition=self.partition,
            stopping=self._stopping, rng=self._rng)
        self._learn_welfare(registry)
        self._register_gauges()
        self.http = StatusServer(s.http_host, s.gateway_http_port, StatusEndpoints(
            metrics=self.metrics.render, health=self.health,
            dead_letters=lambda limit, reason: self.dead_letters.recent(limit, reason),
            dead_alarms=self.outbox.dead))
        self.http.start()
        self._started.append(self.http.stop)
        client = PlatformClient(s.platform_url, TokenSource(s.gateway_token, s.tokens_path))
        client.open()
        self.client = client
        self._started.append(client.close)
        self.sender = AlarmSender(self.outbox, client, self.metrics, self.clock, rng=self._rng)
        self.sender.start()
        self._started.append(self.sender.stop)
        reporter = DeviceStateReporter(self.states, client, self.metrics, self.clock)
        reporter.start()
        self._started.append(reporter.stop)
        status_reporter = StatusReporter(client, self.status_report)
        status_reporter.start()
        self._started.append(status_reporter.stop)
        self.mqtt = MqttIngest(s.mqtt, self.queue, self.clock, self.metrics,
                               client_id=f"gongzhi-{self.gateway_id}", gateway_id=self.gateway_id,
                               topic_filters=self._device_filters(registry))
        sources = self.sources
        self.worker = IngestWorker(
            self.queue, self.pipeline, self.mqtt.ack if sources is None else
            sources.acker(self.mqtt.ack), self.dead_letters, self.metrics,
            self.clock, on_alarms=self._wake_sender, stopping=self._stopping,
            periodic=[(TICK_S, self._tick), (REGISTRY_CHECK_S, self._maybe_reload),
                      (MAINTENANCE_S, self._maintain)],
            side_letters=None if sources is None else sources.take_rejected)
        self.worker.start()
        self._started.append(self.worker.stop)
        self.mqtt.start()
        self._started.append(self.mqtt.stop)
        if sources is not None:
            self._started.append(sources.close)
            sources.start()
        log.info("gateway %s started (partition %s, status on http://%s:%d)", self.gateway_id,
                 self.partition, s.http_host, self.http.port)

    def _learn_welfare(self, registry: Registry) -> None:
        """The welfare rule gets its households' rhythm back before the stream: each household
        kept in ``welfare.db`` is put back as it was and replays only the reports recorded since
        its newest kept day began; the others learn from the last ``history_days`` of recorded
        telemetry (``welfare_history``). An alarm still active goes to the outbox again (the
        same id: taken as a repeat). A kept file that cannot be read is set aside, said in the
        log and the health report, and its households learn from the telemetry; a telemetry
        store that cannot be read leaves them to learn from the stream, as on a first start."""
        assert self.pipeline is not None
        detector = self.pipeline.detector
        if not isinstance(detector, WelfareLearner):
            return
        now = self.clock.now_ms()
        owned = owned_households(detector, registry, self._owns)
        saved = self._open_welfare_records(detector, list(owned), now)
        if not owned:
            return
        from gongzhi.telemetry.reader import open_reader

        try:
            with open_reader(self.settings) as reader:
                learned = learn_from_history(detector, cast(RowReader, reader), registry, now,
                                             self._owns, saved)
        except Exception as exc:  # any reader failure: learn from the stream
            log.warning("welfare rhythm not learned from the recorded telemetry (%s: %s); "
                        "the households are learned from the stream",
                        type(exc).__name__, exc)
            return
        finally:
            self._save_welfare_days()  # the days learned again, kept at once
        if learned.alarms:
            self.outbox.add(learned.alarms, now)
        self._welfare_status.update(resumed=learned.resumed,
                                    relearned=learned.households - learned.resumed)
        log.info("welfare rhythm of %d households back: %d as kept, the others learned from "
                 "%d recorded reports (up to %d days); %d alarms still active",
                 learned.households, learned.resumed, learned.reports, learned.days,
                 len(learned.alarms))

    def _owns(self, record: DeviceRecord) -> bool:
        return self.partition.owns(record.estate_id, record.location.building)

    def _open_welfare_records(self, detector: WelfareLearner, households: list[str],
                              now_ms: int) -> dict[str, Any]:
        """Open ``welfare.db``, load the kept ``households``, delete every other household's
        rows (removed from the registry, no longer flagged, not this gateway's) and start
        noting the days learned. A file that cannot be read is loud: a warning and the health
        report (not readiness: the gateway works, its households learned again)."""
        self._welfare_keys = set(households)
        try:
            opened = open_kept(self._welfare_path, detector.welfare_history_days, households,
                               now_ms)
        except Exception as exc:  # the directory itself: the rule's days are not kept
            problem = (f"the welfare rule's learned days cannot be kept in "
                       f"{self._welfare_path} ({type(exc).__name__}: {exc})")
            log.warning("%s; the households are learned again at each start", problem)
            self._welfare_status = {"file": str(self._welfare_path), "problem": problem}
            return {}
        self.welfare_records = opened.records
        self._started.append(self._close_welfare_records)
        problems = [opened.problem] if opened.problem else []
        problems += [f"the kept days of household {key} could not be read ({why}); it is "
                     "learned again from the recorded telemetry"
                     for key, why in opened.unreadable.items()]
        for problem in problems:
            log.warning("%s", problem)
        self._delete_unwatched(opened.records)
        detector.keep_welfare_days()
        if households or problems:  # a gateway with no elderly household has nothing to say
            self._welfare_status = {"file": str(self._welfare_path), "kept": len(opened.saved),
                                    "problem": "; ".join(problems) or None}
        return dict(opened.saved)

    def _save_welfare_days(self) -> None:
        """Keep the days the welfare rule learned since the last call (worker thread, or the
        start and stop around it). A failed write is logged: the next start replays more."""
        records = self.welfare_records
        detector = self.pipeline.detector if self.pipeline is not None else None
        if records is None or not isinstance(detector, WelfareLearner):
            return
        days = [d for d in detector.take_welfare_days() if d.household in self._welfare_keys]
        try:
            records.save(days)
        except Exception:
            log.exception("the welfare rule's learned days were not kept")

    def _close_welfare_records(self) -> None:
        self._save_welfare_days()  # after the worker stopped: its last days
        if self.welfare_records is not None:
            self.welfare_records.close()
            self.welfare_records = None

    def stop(self) -> None:
        """Stop the worker after its batch (acknowledged), then everything else. Idempotent."""
        self._stopping.set()
        self.queue.close()
        # The worker first (it acknowledges through MQTT), then MQTT, then the rest.
        order = list(reversed(self._started))
        if self.worker is not None and self.worker.stop in order:
            order.remove(self.worker.stop)
            order.insert(0, self.worker.stop)
        self._started.clear()
        for action in order:
            try:
                action()
            except Exception:
                log.exception("error while stopping the gateway")

    def request_reload(self) -> None:
        """Reload the registry at the worker's next turn (SIGHUP)."""
        self._reload_requested.set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self.mqtt is not None and self.mqtt.wait_connected(timeout_s)

    def health(self) -> dict[str, Any]:
        """Liveness (``status``) and what stands in the way of readiness (``problems``)."""
        return self._health()[0]

    def _health(self) -> tuple[dict[str, Any], list[str]]:
        """``health()``, and the sources' problems apart (also among its ``problems``): a
        status report reads each source's health once and builds both from that reading."""
        worker_alive = self.worker is not None and self.worker.alive
        depth = len(self.queue)
        stalled_ms = self.worker.stalled_ms(depth) if self.worker is not None else 0
        problems = []
        if stalled_ms >= STALL_AFTER_MS:
            problems.append(f"the ingest worker has acknowledged nothing for "
                            f"{stalled_ms // 1000} s while {depth} messages wait")
        if self.client is not None and self.client.auth_refused:
            problems.append("the platform refuses the gateway's credential; alarms wait")
        health: dict[str, Any] = {
            "status": "ok" if worker_alive else "failing", "gateway_id": self.gateway_id,
            "mqtt_connected": self.mqtt is not None and self.mqtt.connected,
            "queue_depth": depth, "worker_stalled_ms": stalled_ms, "problems": problems}
        source_problems: list[str] = []
        if self.sources is not None:
            health["sources"] = self.sources.health(source_problems)
            problems += source_problems
        if self._welfare_status:
            health["welfare_records"] = self._welfare_status
        return health, source_problems

    def status_report(self) -> dict[str, Any]:
        """What the platform is told every couple of seconds (``StatusReporter``)."""
        health, source_problems = self._health()
        waiting, oldest_ms = self.outbox.waiting()
        now_ms = self.clock.now_ms()
        return {"gateway_id": self.gateway_id, "alarms_waiting": waiting,
                "oldest_waiting_age_ms": None if oldest_ms is None else max(0, now_ms - oldest_ms),
                "alarms_refused": self.outbox.counts()["dead"],
                "worker_alive": health["status"] == "ok",
                "worker_stalled_ms": health["worker_stalled_ms"],
                "mqtt_connected": health["mqtt_connected"], "queue_depth": health["queue_depth"],
                "messages_rejected": int(self.metrics.total("messages_rejected_total"))
                } | self._problems_for_the_wall(source_problems)

    def _problems_for_the_wall(self, source_problems: list[str]) -> dict[str, Any]:
        """What the gateway cannot do as it should that the report's other fields do not say,
        for the wall's banners: a device source down (not ready) and the welfare file set
        aside (ready all the same). (A stalled worker has its own field; a refused credential
        cannot report at all: the platform hears silence.) Sent only when there is something,
        so a platform that does not know the field hears a healthy gateway as before.
        ``source_problems``: the sources down, from the report's reading of their health."""
        problems = list(source_problems)
        welfare = self._welfare_status.get("problem")
        if welfare:
            problems.append(str(welfare))
        return {"problems": [p[:MAX_PROBLEM_CHARS] for p in problems[:MAX_PROBLEMS]]
                } if problems else {}

    # --- periodic jobs (on the worker thread) --------------------------------------------

    def _tick(self) -> None:
        assert self.pipeline is not None
        try:
            if self.pipeline.tick(self.clock.now_ms()):
                self._wake_sender()
        except StopRequested:
            pass
        self._save_welfare_days()

    def _wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    def _maybe_reload(self) -> None:
        forced = self._reload_requested.is_set()
        self._reload_requested.clear()
        try:
            registry = self._registry.poll(force=forced)
        except ConfigError as exc:
            log.error("registry reload failed, keeping the previous one: %s", exc)
            return
        if registry is not None:
            self.apply_registry(registry)

    def apply_registry(self, registry: Registry) -> None:
        """Swap the registry in (worker thread). An engine with ``set_registry`` keeps its
        state; otherwise a new engine is built."""
        pipeline = self.pipeline
        assert pipeline is not None
        pipeline.decoder.registry = registry
        set_registry = getattr(pipeline.detector, "set_registry", None)
        if callable(set_registry):
            set_registry(registry)
        else:
            pipeline.detector = self._detector_factory(registry)
        if self.mqtt is not None and self.settings.gateway_subscribe == "owned":
            self.mqtt.set_topic_filters(self._device_filters(registry))
        update_sink = getattr(self.sink, "set_registry", None)
        if callable(update_sink):
            update_sink(registry)
        self._forget_unwatched(registry)
        self.metrics.inc("registry_reloads_total")

    def _forget_unwatched(self, registry: Registry) -> None:
        """After a reload: a household removed from the registry or no longer flagged loses
        its kept days (personal data, kept no longer than needed)."""
        records = self.welfare_records
        detector = self.pipeline.detector if self.pipeline is not None else None
        if records is None or not isinstance(detector, WelfareLearner):
            return
        self._save_welfare_days()  # the days noted before the reload, of households that stay
        self._welfare_keys = set(owned_households(detector, registry, self._owns))
        self._delete_unwatched(records)

    def _delete_unwatched(self, records: WelfareRecords) -> None:
        """Delete the kept days of every household not in ``_welfare_keys``."""
        try:
            deleted = records.keep_only(self._welfare_keys)
        except Exception:  # locked by another process: tried again at the next reload
            log.exception("the welfare days of households no longer watched were not deleted")
            return
        if deleted:
            log.info("welfare days of %d households no longer watched deleted", len(deleted))

    def _device_filters(self, registry: Registry) -> list[str]:
        return device_filters(self.settings.gateway_subscribe, self.partition, self.share_group,
                              registry)

    def _maintain(self) -> None:
        now_ms = self.clock.now_ms()
        prune = getattr(self.sink, "prune", None)
        try:
            if callable(prune):
                prune(now_ms)
            self.outbox.prune_sent(now_ms)
        except Exception:
            log.exception("store maintenance failed")

    def _register_gauges(self) -> None:
        m = self.metrics
        m.gauge("alarms_pending", "alarms in the outbox waiting for the platform",
                lambda: self.outbox.counts()["pending"])
        m.gauge("alarms_dead", "alarms the platform refused for good",
                lambda: self.outbox.counts()["dead"])
        m.gauge("queue_depth", "messages received and waiting for the worker",
                lambda: len(self.queue))
        m.gauge("queue_lag_seconds", "age of the oldest message waiting for the worker",
                self._queue_lag_s)
        m.gauge("last_batch_latency_seconds", "receive-to-commit time of the last batch",
                lambda: self.worker.last_batch_latency_ms / 1000 if self.worker else 0.0)
        m.gauge("mqtt_connected", "1 while connected to the broker",
                lambda: float(self.mqtt is not None and self.mqtt.connected))
        m.gauge("registry_devices", "devices in the registry",
                lambda: len(self.pipeline.decoder.registry) if self.pipeline else 0)
        m.gauge("devices_seen", "devices the gateway has heard from", lambda: len(self.states))

    def _queue_lag_s(self) -> float:
        oldest = self.queue.oldest_received_ms()
        return 0.0 if oldest is None else max(0, self.clock.now_ms() - oldest) / 1000
