"""The gateway's MQTT transport: the only module that imports paho.

MQTT 5, a persistent session (clean start off, session expiry set) and QoS 1 subscriptions with
manual acknowledgement: paho's network thread only wraps each message in a ``RawMessage`` and
puts it on the ``IngestQueue``; the worker acknowledges it (``ack``) once it is stored and its
alarms are in the outbox. A message taken but not acknowledged when the process dies is
redelivered by the broker on the next connection.

The gateway announces itself on ``gongzhi/gateway/<id>/status``: ``online`` on connect,
``offline`` as its last will and on a clean stop, never retained (the deployment broker refuses
retained messages). paho reconnects with exponential backoff (1 s to 30 s).

An outside source on MQTT (``gongzhi.gateway.sources``, e.g. a ChirpStack broker) gets a client
of this class too, so paho stays in this one module: ``source`` stamps its messages with the
source's id, and with ``gateway_id=None`` it announces nothing on that broker.

Retained messages are not device data: they replay what a device (possibly revoked since)
published in the past. The subscription asks the broker not to send them, and any that arrives
anyway (a broker that ignores the option) is acknowledged and counted, never handed on.

paho decodes the MQTT 5 properties of every received PUBLISH with a ``Properties`` object that
rebuilds its lookup tables each time: at QoS 1 that is about a third of paho's network thread,
the gateway's bottleneck. ``use_shared_property_tables`` swaps in a subclass that decodes the
same bytes to the same result from shared tables. That reaches into paho's private
``paho.mqtt._packet``, so it is done only after a self-check: the private module imports and
holds paho's ``Properties``, the constructor and ``unpack`` have the signatures the subclass
relies on, and the subclass decodes sample packets exactly as stock paho does. Any failure (a
paho other than the pinned one) leaves paho's stock decoding in place, slower but correct, with
one WARNING naming what failed; ``fast_properties_active()`` and the gauge
``gongzhi_gateway_mqtt_fast_properties`` say which is in use.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gongzhi.core.clock import Clock
from gongzhi.core.settings import MqttTarget
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)

DEVICE_TOPICS = "estate/+/+/+"
SESSION_EXPIRY_S = 7 * 86_400
# Unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5 Receive Maximum).
RECEIVE_MAXIMUM = 1000
# Connections the broker ends this soon after accepting them, this many times in a row, are
# taken for another client using our session: on a broker that makes the MQTT user the client
# id (deploy/mosquitto), two gateways sharing one user take each other's place for ever.
SHORT_SESSION_MS = 10_000
SHORT_SESSIONS_IN_A_ROW = 3
SESSION_TAKEN_OVER = 0x8E


class SharedTableProperties(Properties):
    """paho's ``Properties`` with its (read-only) tables shared between instances, and a PUBLISH
    without properties, the usual case, decoded without scanning every property name."""

    _tables: tuple[Any, Any, Any] | None = None

    def __init__(self, packetType: int) -> None:
        tables = SharedTableProperties._tables
        if tables is None:
            stock = Properties(packetType)  # type: ignore[no-untyped-call]
            tables = SharedTableProperties._tables = (stock.types, stock.names, stock.properties)
        object.__setattr__(self, "packetType", packetType)
        for name, table in zip(("types", "names", "properties"), tables, strict=True):
            object.__setattr__(self, name, table)

    def unpack(self, buffer: bytes) -> tuple[Properties, int]:
        if buffer[:1] == b"\x00":  # property length 0, a one-byte variable integer
            return self, 1
        result: tuple[Properties, int] = super().unpack(buffer)  # type: ignore[no-untyped-call]
        return result


# Properties a device may put on a PUBLISH, in the forms the self-check compares.
_SAMPLE_PROPERTIES: tuple[dict[str, Any], ...] = (
    {},
    {"PayloadFormatIndicator": 1, "MessageExpiryInterval": 3600, "TopicAlias": 7,
     "ContentType": "application/json", "CorrelationData": b"\x00\x01",
     "ResponseTopic": "r/1", "SubscriptionIdentifier": [3, 300_000],
     "UserProperty": [("site", "yijing"), ("fw", "1.2")]},
)
_fast_properties: bool | None = None  # decided once per process
_fast_lock = threading.Lock()


def _decoded(props: Properties) -> dict[str, Any]:
    return {k: v for k, v in vars(props).items()
            if k not in {"packetType", "types", "names", "properties"}}


def _shared_tables_problem(packet_module: Any) -> str | None:
    """Why ``SharedTableProperties`` must not replace paho's decoding here, or None."""
    if getattr(packet_module, "Properties", None) not in (Properties, SharedTableProperties):
        return "paho.mqtt._packet.Properties is not paho.mqtt.properties.Properties"
    for method, expected in ((Properties.__init__, ["self", "packetType"]),
                             (Properties.unpack, ["self", "buffer"])):
        found = list(inspect.signature(method).parameters)
        if found != expected:
            return f"Properties.{method.__name__} takes {found}, not {expected}"
    for values in _SAMPLE_PROPERTIES:
        stock = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        for name, value in values.items():
            setattr(stock, name, value)
        sample = bytes(stock.pack()) + b"{}"  # type: ignore[no-untyped-call]
        expected_props, expected_len = Properties(  # type: ignore[no-untyped-call]
            PacketTypes.PUBLISH).unpack(sample)
        shared, shared_len = SharedTableProperties(PacketTypes.PUBLISH).unpack(sample)
        if (shared_len, _decoded(shared)) != (expected_len, _decoded(expected_props)):
            return f"shared tables decode {sorted(values)} differently from paho"
    return None


def use_shared_property_tables() -> bool:
    """Make paho decode received packets' properties with ``SharedTableProperties``
    (process-wide; the decoded values are the same, only cheaper) when the self-check passes;
    returns whether it is in use. The check runs once: a failure logs one WARNING."""
    global _fast_properties
    with _fast_lock:
        packet_module: Any = None
        if _fast_properties is not False:
            try:
                packet_module = importlib.import_module("paho.mqtt._packet")
                problem = None if _fast_properties else _shared_tables_problem(packet_module)
            except Exception as exc:  # a changed paho may fail in any way: never break ingest
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                log.warning("MQTT 5 properties are decoded by stock paho %s (slower): the "
                            "shared-table decoding does not fit this paho (%s)",
                            paho_version, problem)
            _fast_properties = problem is None
        if _fast_properties:
            packet_module.Properties = SharedTableProperties
        return _fast_properties


def fast_properties_active() -> bool:
    """Whether received properties are decoded through the shared tables."""
    return bool(_fast_properties)


def status_topic(gateway_id: str) -> str:
    return f"gongzhi/gateway/{gateway_id}/status"


def subscription_filter(group: str | None) -> str:
    """``estate/+/+/+``, or its MQTT 5 shared form ``$share/<group>/estate/+/+/+``."""
    return f"$share/{group}/{DEVICE_TOPICS}" if group else DEVICE_TOPICS


class MqttIngest:
    def __init__(self, target: MqttTarget, queue: IngestQueue, clock: Clock,
                 metrics: GatewayMetrics, *, client_id: str, gateway_id: str | None,
                 topic_filters: Sequence[str] = (DEVICE_TOPICS,), keepalive_s: int = 30,
                 session_expiry_s: int = SESSION_EXPIRY_S, source: str = "") -> None:
        self._target = target
        self._queue = queue
        self._clock = clock
        self._metrics = metrics
        self._client_id = client_id
        self._status_topic = status_topic(gateway_id) if gateway_id else None
        self._source = source
        self._filters = list(topic_filters)
        self._keepalive_s = keepalive_s
        self._session_expiry_s = session_expiry_s
        self._client: paho.Client | None = None
        self._generation = 0
        self._connected = threading.Event()
        self._connected_at_ms: int | None = None
        self._short_sessions = 0

    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        fast = use_shared_property_tables()
        self._metrics.gauge("mqtt_fast_properties", "1 while received MQTT 5 properties are "
                            "decoded through shared tables, 0 on stock paho decoding",
                            lambda: float(fast))
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                             protocol=paho.MQTTv5, manual_ack=True)
        if self._target.username:
            client.username_pw_set(self._target.username, self._target.password)
        if self._target.tls:
            client.tls_set()
        if self._status_topic:
            client.will_set(self._status_topic, b"offline", qos=1)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        client.connect_async(self._target.host, self._target.port, keepalive=self._keepalive_s,
                             clean_start=False, properties=props)
        self._client = client
        client.loop_start()

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._connected.is_set() and self._status_topic:
            info = client.publish(self._status_topic, b"offline", qos=1)
            # Connection lost meanwhile: the broker publishes the will instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    def set_topic_filters(self, filters: Sequence[str]) -> None:
        """Change the subscription (the registry's estates changed): subscribe to the filters
        added and unsubscribe from those dropped now; a reconnect subscribes to the new set."""
        new = list(filters)
        added = [f for f in new if f not in self._filters]
        dropped = [f for f in self._filters if f not in new]
        self._filters = new
        client = self._client
        if client is None or not self._connected.is_set():
            return
        if added:
            client.subscribe([(f, self._subscribe_options()) for f in added])
        if dropped:
            client.unsubscribe(dropped)
        log.info("subscription changed: %d filters added, %d dropped", len(added), len(dropped))

    @staticmethod
    def _subscribe_options() -> SubscribeOptions:
        return SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)

    def ack(self, messages: Sequence[RawMessage]) -> None:
        """Acknowledge processed QoS 1 messages of the current connection, in arrival order."""
        client = self._client
        if client is None:
            return
        generation = self._generation
        for raw in messages:
            if raw.qos > 0 and raw.generation == generation:
                client.ack(raw.mid, raw.qos)

    # --- paho callbacks: run on paho's network thread; they never block on domain work ------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        if self._filters:
            client.subscribe([(f, self._subscribe_options()) for f in self._filters])
        else:  # a share that holds no estate (yet): nothing to subscribe to, nothing missed
            self._connected.set()
        if self._status_topic:
            client.publish(self._status_topic, b"online", qos=1)
        self._metrics.inc("mqtt_connects_total")
        self._connected_at_ms = self._clock.now_ms()
        log.info("connected to %s:%s as %s (session present: %s)", self._target.host,
                 self._target.port, self._client_id, flags.session_present)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Properties | None) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("broker refused the subscription %s: %s", self._filters, refused)
            return
        self._connected.set()  # connected and subscribed: nothing published from now is missed

    def _on_disconnect(self, client: paho.Client, userdata: Any,
                       flags: paho.DisconnectFlags, reason_code: ReasonCode,
                       properties: Properties | None) -> None:
        self._connected.clear()
        if self._client is None:
            return
        connected_at, self._connected_at_ms = self._connected_at_ms, None
        short = (connected_at is not None
                 and self._clock.now_ms() - connected_at < SHORT_SESSION_MS)
        self._short_sessions = self._short_sessions + 1 if short else 0
        if reason_code.value == SESSION_TAKEN_OVER or (
                self._short_sessions == SHORT_SESSIONS_IN_A_ROW):
            log.error("the broker keeps ending this gateway's connection right after accepting "
                      "it (%s, %d times in a row): is another client connected with the same "
                      "MQTT user %r? Where the broker makes the user the client id, every "
                      "gateway replica and worker needs a user of its own", reason_code,
                      self._short_sessions, self._target.username)
        else:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            # Acknowledged here, out of turn: the broker matches a PUBACK by its packet id.
            self._metrics.inc("messages_retained_ignored_total")
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<topic is not UTF-8>"  # refused as bad_topic by the worker, then acked
        self._queue.put(RawMessage(topic, bytes(msg.payload), self._clock.now_ms(), msg.mid,
                                   msg.qos, self._generation, self._source))
