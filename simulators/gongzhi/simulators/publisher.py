"""MQTT publishing for the simulators: the only simulator module that talks to paho.

Two connection modes. ``per-device``: one connection per device, client id = device id, last
will ``offline`` on its status topic, so a dropped connection makes the broker
announce it. ``multiplexed``: a few connections carry every device's topics, as NB-IoT vendor
platforms forward; a device's dropped link is then announced by publishing ``offline`` for it.

All connections are driven from the calling thread (no paho network threads): one selector
over every socket, so a thousand per-device connections cost a thousand sockets, not a thousand
threads. Back-pressure: paho's ``publish()`` answers ``MQTT_ERR_QUEUE_SIZE`` when its QoS 1
queue is full and then has NOT queued the message; a QoS 0 message sits in paho's write buffer
when the socket is full. In both cases we run the network until there is room and publish again:
no message is ever dropped.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gongzhi.core.errors import GongzhiError
from gongzhi.core.settings import MqttTarget
from gongzhi.simulators.outgoing import (
    NO_DEVICE,
    OFFLINE,
    Link,
    LinkAction,
    Message,
    Outgoing,
    status_topic,
)

log = logging.getLogger(__name__)

PER_DEVICE = "per-device"
MULTIPLEXED = "multiplexed"
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
HOUSEKEEPING_S = 0.5
_CAN_CORK = hasattr(socket, "TCP_CORK")  # Linux


class PublishError(GongzhiError):
    """The broker cannot be reached or refused us."""


class DeviceEndpoint(NamedTuple):
    device_id: str
    estate_id: str


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    target: MqttTarget
    mode: str = MULTIPLEXED
    connections: int = 4
    client_prefix: str = "gongzhi-sim"
    keepalive_s: int = 60
    # QoS 1 messages a connection may have unacknowledged before publish() says QUEUE_SIZE.
    max_queued: int = 1_000
    # 0: every queued message is in flight. A paho in-flight limit costs a scan of all
    # unacknowledged messages on each PUBACK (quadratic at thousands of messages a second);
    # ``max_queued`` bounds them instead.
    max_inflight: int = 0
    # Cork the sockets while a batch is written: the kernel sends full segments instead of
    # one per message, which halves the cost of a publish on loopback.
    cork: bool = True
    connect_timeout_s: float = 15.0


@dataclass
class PublisherStats:
    published: int = 0
    bytes: int = 0
    waits: int = 0  # times publishing waited for room (back-pressure)
    wills: int = 0  # connections dropped on purpose so the broker sends a last will
    reconnects: int = 0  # after connections lost unexpectedly
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)  # identity: connections go in sets
class _Conn:
    client: mqtt.Client
    name: str
    connected: bool = False
    parked: bool = False  # disconnected on purpose (device offline); not reconnected
    ever_connected: bool = False
    rejoining: bool = False  # reconnecting on purpose (a device back from a fault)
    failures: int = 0
    next_retry: float = 0.0
    refused: str | None = None
    mask: int = 0  # the selector events registered for its socket


class MqttPublisher:
    """Use ``start()``, ``send()``/``pump()``, ``flush()``, ``close()`` (or ``with``)."""

    def __init__(self, config: PublisherConfig, devices: Sequence[DeviceEndpoint],
                 journal: Callable[[Message], None] | None = None) -> None:
        if config.mode not in (PER_DEVICE, MULTIPLEXED):
            raise ValueError(f"unknown mode {config.mode!r}")
        self.config = config
        self.devices = devices
        self.stats = PublisherStats()
        # Every message the broker should deliver because of us, in order (tests compare it
        # with what a subscriber received); includes the last wills we cause.
        self._journal = journal
        self._conns: list[_Conn] = []
        self._selector: selectors.BaseSelector | None = None
        self._registered: dict[int, socket.socket] = {}
        self._corked: set[_Conn] = set()
        self._touched: set[_Conn] = set()  # connections whose selector interest may be stale
        self._next_housekeeping = 0.0

    # Lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._selector = selectors.DefaultSelector()
        if self.config.mode == PER_DEVICE:
            names = [d.device_id for d in self.devices]
        else:
            names = [f"{self.config.client_prefix}-{i}" for i in range(self.config.connections)]
        for i, name in enumerate(names):
            conn = _Conn(self._new_client(name), name)
            if self.config.mode == PER_DEVICE:
                d = self.devices[i]
                conn.client.will_set(status_topic(d.estate_id, d.device_id), OFFLINE, qos=1)
            self._conns.append(conn)
            self._connect(conn)
        deadline = time.monotonic() + self.config.connect_timeout_s
        while not all(c.connected for c in self._conns):
            refused = next((c for c in self._conns if c.refused), None)
            if refused is not None:
                raise PublishError(f"broker refused {refused.name}: {refused.refused}")
            if time.monotonic() > deadline:
                waiting = sum(not c.connected for c in self._conns)
                raise PublishError(f"{waiting} connection(s) to {self._where()} not accepted "
                                   f"within {self.config.connect_timeout_s:.0f} s")
            self.pump(0.05)

    def close(self) -> None:
        for conn in self._conns:
            conn.parked = True  # going away on purpose: no reconnect, no warning
            with contextlib.suppress(Exception):
                if conn.connected:
                    conn.client.disconnect()
                    conn.client.loop_write()
            self._unregister(conn)
            with contextlib.suppress(Exception):
                sock = conn.client.socket()
                if sock is not None:
                    sock.close()
        self._conns.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def __enter__(self) -> MqttPublisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    # Publishing ----------------------------------------------------------------------------

    def send(self, items: Iterable[Outgoing]) -> None:
        try:
            for item in items:
                if isinstance(item, Message):
                    self._publish(self._conn_for(item.device), item)
                else:
                    self._link(item)
        finally:
            self._uncork()

    def _cork(self, conn: _Conn) -> None:
        """Cork a connection's socket for the rest of the batch (the first write to it)."""
        if conn in self._corked or not _CAN_CORK:
            return
        sock = conn.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                self._corked.add(conn)

    def _uncork(self) -> None:
        for conn in self._corked:
            sock = conn.client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        self._corked.clear()

    def _conn_for(self, device: int) -> _Conn:
        if self.config.mode == PER_DEVICE and device != NO_DEVICE:
            return self._conns[device]
        return self._conns[max(device, 0) % len(self._conns)]

    def _publish(self, conn: _Conn, message: Message) -> None:
        if self.config.cork:
            self._cork(conn)
        self._touched.add(conn)
        while True:
            if not conn.connected:
                self._wait_connected(conn)
            info = conn.client.publish(message.topic, message.payload, message.qos,
                                       message.retain)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                # Not queued: make room (read acknowledgements, write) and try again.
                self.stats.waits += 1
                self.pump(0.01)
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
                raise PublishError(f"{conn.name}: publish failed: {mqtt.error_string(info.rc)}")
            if message.qos > 0:
                break  # kept in paho's queue; sent when the connection is back
            # QoS 0 without a connection is lost by paho: publish it again once connected.
            conn.connected = False
        if message.qos == 0 and conn.client.want_write():
            # The socket is full and paho buffers the rest: let it drain before going on.
            self.stats.waits += 1
            self._drain(conn)
        self.stats.published += 1
        self.stats.bytes += len(message.payload)
        channel = message.topic.rsplit("/", 1)[-1]
        self.stats.by_channel[channel] = self.stats.by_channel.get(channel, 0) + 1
        if self._journal is not None:
            self._journal(message)

    def _link(self, link: Link) -> None:
        if link.device == NO_DEVICE:
            return
        d = self.devices[link.device]
        if self.config.mode == MULTIPLEXED:
            if link.action is LinkAction.DROP:
                # The forwarder announces the device's lost link itself.
                self._publish(self._conn_for(link.device),
                              Message(link.device, status_topic(d.estate_id, d.device_id),
                                      OFFLINE, 1))
            return
        conn = self._conns[link.device]
        if link.action is LinkAction.CONNECT:
            conn.parked = False
            conn.rejoining = True
            if not conn.connected:
                self._connect(conn)
            return
        conn.parked = True
        if link.action is LinkAction.DISCONNECT:
            # Settle first: a socket closed with an unread PUBACK in it is reset, not closed,
            # and the broker would publish the last will of a device that said goodbye.
            self._settle(conn)
            conn.client.disconnect()
            conn.client.loop_write()
        else:
            # No DISCONNECT: the broker sees the connection end and publishes the last will.
            # Settled first, so that paho does not send unacknowledged messages again after the
            # reconnection (duplicates are injected on purpose, by the duplicate fault).
            self._settle(conn)
            self.stats.wills += 1
            if self._journal is not None:
                self._journal(Message(link.device, status_topic(d.estate_id, d.device_id),
                                      OFFLINE, 1))
            sock = conn.client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            conn.client.loop_read()  # paho notices the closed socket and cleans up
        conn.connected = False
        self._unregister(conn)

    # Network -------------------------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        """Run reads, writes, keepalives and reconnects for up to ``timeout`` seconds."""
        assert self._selector is not None, "start() first"
        self._uncork()  # about to wait on the broker: what we wrote must reach it
        for conn in self._touched:
            self._sync_registration(conn)
        self._touched.clear()
        if self._registered:
            events = self._selector.select(timeout)
        else:
            time.sleep(timeout)
            events = []
        for key, mask in events:
            conn = key.data
            if mask & selectors.EVENT_READ:
                conn.client.loop_read()
            if mask & selectors.EVENT_WRITE:
                conn.client.loop_write()
            self._touched.add(conn)
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        # Keepalives, reconnections and a full look at every socket: twice a second is enough,
        # and a thousand per-device connections would make every pump slow.
        self._next_housekeeping = now + HOUSEKEEPING_S
        for conn in self._conns:
            if conn.client.socket() is not None:
                conn.client.loop_misc()
            elif not conn.parked and not conn.connected and now >= conn.next_retry:
                self._connect(conn)
            self._sync_registration(conn)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every message is written and every QoS 1 message acknowledged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [c for c in self._conns if not c.parked and (
                c.client.want_write() or _unacked(c.client) or not c.connected)]
            if not pending:
                return True
            self.pump(0.02)
        return False

    def _drain(self, conn: _Conn) -> None:
        deadline = time.monotonic() + 30.0
        while conn.client.want_write() and conn.connected:
            if time.monotonic() > deadline:
                raise PublishError(f"{conn.name}: the broker takes no data for 30 s")
            self.pump(0.01)

    def _settle(self, conn: _Conn, timeout: float = 10.0) -> None:
        """Until everything sent on the connection is written and acknowledged."""
        deadline = time.monotonic() + timeout
        while conn.connected and (conn.client.want_write() or _unacked(conn.client)):
            if time.monotonic() > deadline:
                log.warning("%s: not every message acknowledged before disconnecting",
                            conn.name)
                return
            self.pump(0.01)

    def _wait_connected(self, conn: _Conn) -> None:
        deadline = time.monotonic() + 120.0
        while not conn.connected:
            if time.monotonic() > deadline:
                raise PublishError(f"{conn.name}: no connection to {self._where()} for 120 s")
            self.pump(0.05)

    def _connect(self, conn: _Conn) -> None:
        target = self.config.target
        try:
            conn.client.connect(target.host, target.port, self.config.keepalive_s)
        except (OSError, ssl.SSLError) as exc:
            conn.failures += 1
            delay = RECONNECT_BACKOFF_S[min(conn.failures - 1, len(RECONNECT_BACKOFF_S) - 1)]
            conn.next_retry = time.monotonic() + delay
            if conn.failures == 1 or conn.failures % 10 == 0:
                log.warning("%s: cannot connect to %s (%s); retrying", conn.name,
                            self._where(), exc)
            return
        self._sync_registration(conn)

    def _new_client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        target = self.config.target
        if target.username:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set()
        client.max_queued_messages_set(self.config.max_queued)
        client.max_inflight_messages_set(self.config.max_inflight)
        conn_ref: dict[str, _Conn] = {}

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
            conn = conn_ref.get("conn") or self._by_client(c)
            conn_ref["conn"] = conn
            if getattr(reason, "is_failure", False):
                conn.refused = str(reason)
                return
            if conn.ever_connected and not conn.rejoining:
                self.stats.reconnects += 1
            conn.rejoining = False
            conn.connected = conn.ever_connected = True
            conn.failures = 0

        def on_disconnect(c: mqtt.Client, userdata: object, flags: object, reason: object,
                          properties: object) -> None:
            conn = conn_ref.get("conn") or self._by_client(c)
            conn_ref["conn"] = conn
            conn.connected = False
            if not conn.parked:
                conn.next_retry = time.monotonic() + RECONNECT_BACKOFF_S[0]
                log.warning("%s: connection lost (%s); reconnecting", conn.name, reason)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        return client

    def _by_client(self, client: mqtt.Client) -> _Conn:
        return next(c for c in self._conns if c.client is client)

    def _sync_registration(self, conn: _Conn) -> None:
        assert self._selector is not None
        sock = conn.client.socket()
        key = id(conn)
        old = self._registered.get(key)
        if old is not None and old is not sock:
            self._unregister(conn)
            old = None
        if sock is None or not isinstance(sock, socket.socket | ssl.SSLSocket):
            return
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.client.want_write() else 0)
        if old is None:
            self._selector.register(sock, mask, conn)
            self._registered[key] = sock
        elif mask != conn.mask:
            self._selector.modify(sock, mask, conn)
        conn.mask = mask

    def _unregister(self, conn: _Conn) -> None:
        sock = self._registered.pop(id(conn), None)
        if sock is not None and self._selector is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(sock)

    def _where(self) -> str:
        return f"{self.config.target.host}:{self.config.target.port}"


def _unacked(client: mqtt.Client) -> bool:
    # paho keeps QoS 1 messages in _out_messages until their PUBACK; it has no public count.
    return bool(getattr(client, "_out_messages", None))
