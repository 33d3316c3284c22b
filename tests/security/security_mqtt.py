"""A real Mosquitto started from the shipped deploy/mosquitto/mosquitto.conf, and a paho client
that turns every broker answer (CONNACK, SUBACK, PUBACK, messages) into a wait with a deadline.

Only paths and ports of the shipped file are rewritten; every other directive is kept, so the
tests exercise the security settings a deployment runs with.
"""

from __future__ import annotations

import getpass
import queue
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gongzhi.core.broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
MAKE_CERTS = ROOT / "scripts" / "make-certs.sh"
PLAIN_PORT, TLS_PORT = 1883, 8883
WAIT_S = 5.0


@dataclass(frozen=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    certs: Path
    data: Path


def rewrite_conf(text: str, files: BrokerFiles, plain_port: int, tls_port: int) -> str:
    """The shipped configuration with local paths and loopback ports. Fails when a directive it
    must rewrite is missing, so a shipped file that loses one fails the tests."""
    replacements = {
        "password_file": f"password_file {files.passwd}",
        "acl_file": f"acl_file {files.acl}",
        "persistence_location": f"persistence_location {files.data}/",
        f"listener {PLAIN_PORT}": f"listener {plain_port} 127.0.0.1",
        f"listener {TLS_PORT}": f"listener {tls_port} 127.0.0.1",
        "certfile": f"certfile {files.certs / 'broker.crt'}",
        "keyfile": f"keyfile {files.certs / 'broker.key'}",
    }
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        key = next((k for k in replacements if re.match(rf"{re.escape(k)}(\s|$)", line)), None)
        if key is None:
            out.append(line)
        else:
            seen.add(key)
            out.append(replacements[key])
    missing = set(replacements) - seen
    assert not missing, f"the shipped broker config lacks {sorted(missing)}"
    # Started as root, Mosquitto would switch to its own user and could not read the test's
    # private files; as any other user this line has no effect.
    out.append(f"user {getpass.getuser()}")
    out.append("log_dest stderr")
    return "\n".join(out) + "\n"


@dataclass
class SecureBroker:
    workdir: Path
    files: BrokerFiles
    ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    proc: subprocess.Popen[bytes] | None = None

    @property
    def plain_port(self) -> int:
        return self.ports[0]

    @property
    def tls_port(self) -> int:
        return self.ports[1]

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> None:
        self.files.data.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(rewrite_conf(SHIPPED_CONF.read_text(), self.files,
                                          self.plain_port, self.tls_port))
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            for port in (self.plain_port, self.tls_port):
                wait_for_port("127.0.0.1", port, 10)
        except Exception:
            self.stop()
            raise AssertionError(f"mosquitto did not start:\n{self.log.read_text()}") from None

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads the password file and the ACL again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes


class MqttProbe:
    """One paho client. ``connect`` returns the CONNACK reason code, or None when the broker
    closed the connection without one. Never reconnects by itself."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None, *,
                 client_id: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
                 ca_file: Path | None = None, session_expiry_s: int = 0,
                 will: tuple[str, bytes, bool] | None = None) -> None:
        """``session_expiry_s`` > 0: an MQTT 5 persistent session (clean start off) that the
        broker keeps that long after a disconnect. ``will``: (topic, payload, retain)."""
        self.port = port
        self.messages: queue.Queue[Received] = queue.Queue()
        self.session_present: bool | None = None
        self.disconnect_reason: ReasonCode | None = None
        self._session_expiry_s = session_expiry_s
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=protocol, reconnect_on_failure=False)
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:
            self._client.tls_set(ca_certs=str(ca_file))
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=will[2])
        self._connack: queue.Queue[ReasonCode | None] = queue.Queue()
        self._subacks: dict[int, queue.Queue[list[ReasonCode]]] = {}
        self._pubacks: dict[int, queue.Queue[ReasonCode]] = {}
        self._lock = threading.Lock()
        self.disconnected = threading.Event()
        self._started = False
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    # paho's network thread: only hand results over.
    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        self.session_present = bool(flags.session_present)
        self._connack.put(rc)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.disconnect_reason = rc
        self._connack.put(None)  # only read while waiting for a CONNACK
        self.disconnected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        self._waiter(self._subacks, mid).put(rcs)

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._waiter(self._pubacks, mid).put(rc)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, msg.payload))

    def _waiter(self, table: dict[int, queue.Queue[Any]], mid: int) -> queue.Queue[Any]:
        with self._lock:
            return table.setdefault(mid, queue.Queue())

    def connect(self) -> ReasonCode | None:
        if self._session_expiry_s > 0:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            self._client.connect("127.0.0.1", self.port, keepalive=30, clean_start=False,
                                 properties=props)
        else:
            self._client.connect("127.0.0.1", self.port, keepalive=30)
        self._client.loop_start()
        self._started = True
        return self._connack.get(timeout=WAIT_S)

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        result, mid = self._client.subscribe(topic, qos=qos)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None
        return self._waiter(self._subacks, mid).get(timeout=WAIT_S)  # type: ignore[no-any-return]

    def publish(self, topic: str, payload: str | bytes, qos: int = 1,
                retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and wait for the PUBACK. On one connection Mosquitto answers in
        order, so anything the broker routed to this client before arrives before this returns.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        assert qos == 1, "the PUBACK is the ordering barrier"
        return self._waiter(self._pubacks, info.mid).get(timeout=WAIT_S)  # type: ignore[no-any-return]

    def publish_unacknowledged(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 without waiting: for a message the broker answers by closing the
        connection (wait on ``disconnected``)."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    def next_message(self) -> Received:
        return self.messages.get(timeout=WAIT_S)

    def drained(self) -> list[Received]:
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def stall(self) -> None:
        """Stop reading the socket, still connected: a subscriber that has fallen behind."""
        if self._started:
            self._client.loop_stop()
            self._started = False

    def close(self) -> None:
        self._client.disconnect()
        if self._started:
            self._client.loop_stop()
            self._started = False
        # A connection the broker refused leaves paho's socket for the caller to close.
        sock = self._client.socket()
        if sock is not None:
            sock.close()
