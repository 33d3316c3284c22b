"""An MQTT source's subscriber in a process of its own (``MqttFront``: the gateway's handle).

Why a process: paho decodes every packet in Python, in its network thread, and at thousands of
messages a second that takes most of the interpreter's time; in the gateway's process it takes
turns with the pipeline on the interpreter's lock. In a process of its own the subscriber and
the pipeline each have a core. What the subscriber takes is only handed on: the guarantees stay
those of the gateway's own subscription (``gateway.mqtt``: a persistent session, QoS 1,
acknowledged only once the gateway has committed the message).

The gateway starts ``python -m gongzhi.gateway.sources.mqtt_front``, writes the pickled
``MqttFrontSpec`` to its standard input and keeps that pipe open; when the gateway ends (killed
included) the pipe closes, the subscriber disconnects without acknowledging what it holds, and
the broker keeps it for the session. Frames, pickled, each way:

- subscriber -> gateway: ``("ready",)`` first (or ``("error", text)``), then ``("m", batch)``,
  the messages taken, and ``("s", connected)`` when the connection comes or goes;
- gateway -> subscriber: ``("a", [(mid, qos, generation), ...])``, the messages committed.

A packet id means something only on the connection it came on, and only to the process that
took it: the gateway tags each message with the subscriber's incarnation and never sends an
acknowledgement to a later one (the broker redelivers those messages to the new session).
"""

from __future__ import annotations

import logging
import pickle
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from gongzhi.core.clock import SystemClock
from gongzhi.core.settings import MqttTarget
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.mqtt import MqttIngest
from gongzhi.gateway.sources.piped_child import (
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    PipedChild,
    read_spec,
)

log = logging.getLogger(__name__)

BATCH = 500
# Generations of one incarnation of the subscriber: far more reconnections than a process sees.
INCARNATION = 1 << 32


class MqttFrontFailed(RuntimeError):
    """The subscriber's process could not start."""


@dataclass(frozen=True)
class MqttFrontSpec:
    source_id: str
    target: MqttTarget
    client_id: str
    topics: tuple[str, ...]
    log_level: int = logging.INFO


class MqttFront(PipedChild):
    """Starts, watches and stops one source's subscriber process. Its messages go to
    ``put`` (blocking while the pipeline's queue is full, which holds the subscriber back);
    ``exited`` is set when the process ends unasked."""

    def __init__(self, spec: MqttFrontSpec, put: Callable[[RawMessage], None],
                 on_exit: Callable[[], None] = lambda: None) -> None:
        super().__init__(__name__, f"the subscriber of {spec.source_id}")
        self._spec = spec
        self._put = put
        self._on_exit = on_exit
        self._write_lock = threading.Lock()
        self._incarnation = 0
        self._connected = threading.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self.running

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        self._connected.clear()
        self._incarnation += 1
        try:
            proc = self._spawn(self._spec)
            assert proc.stdout is not None
            if not select.select([proc.stdout], [], [], READY_TIMEOUT_S)[0]:
                raise OSError(f"no answer in {READY_TIMEOUT_S:.0f} s")
            first = pickle.load(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.stop()
            raise MqttFrontFailed(f"{self._name} did not start: {exc or 'it ended'}") from None
        if first != ("ready",):
            self.stop()
            raise MqttFrontFailed(f"{self._name} did not start: "
                                  f"{first[1] if isinstance(first, tuple) else first}")
        self._watch(self._read, self._incarnation)

    def ack(self, messages: Sequence[RawMessage]) -> None:
        """Acknowledge committed messages taken by the current subscriber (those of an earlier
        one are redelivered to this one's session)."""
        current = self._incarnation
        acks = [(m.mid, m.qos, m.generation % INCARNATION) for m in messages
                if m.qos > 0 and m.generation // INCARNATION == current]
        proc = self._proc
        if not acks or proc is None or proc.stdin is None:
            return
        frame = pickle.dumps(("a", acks))
        try:
            with self._write_lock:
                proc.stdin.write(frame)
                proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the subscriber ended: its session keeps the messages for the next one

    def stop(self) -> None:
        """Closes the subscriber's pipe (it disconnects, acknowledging nothing more) and
        waits for it."""
        super().stop()
        self._connected.clear()

    def _read(self, proc: subprocess.Popen[bytes], incarnation: int) -> None:
        assert proc.stdout is not None
        base = incarnation * INCARNATION
        source = self._spec.source_id
        try:
            while True:
                kind, data = pickle.load(proc.stdout)
                if kind == "m":
                    for topic, payload, received_ms, mid, qos, generation in data:
                        self._put(RawMessage(topic, payload, received_ms, mid, qos,
                                             base + generation, source))
                elif kind == "s":
                    if data:
                        self._connected.set()
                    else:
                        self._connected.clear()
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            pass  # the subscriber ended, or the pipe was closed under the reader (stop)
        self._connected.clear()
        if self._ended(proc):
            self._on_exit()


# --- the subscriber's process ------------------------------------------------------------


class _Frames:
    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, frame: tuple[Any, ...]) -> None:
        with self._lock:
            pickle.dump(frame, self._out)
            self._out.flush()


def _forward(mqtt: MqttIngest, queue: IngestQueue, frames: _Frames,
             stopping: threading.Event) -> None:
    """The messages paho took, in batches, and the connection's changes, to the gateway."""
    connected = False
    try:
        while not stopping.is_set():
            batch = queue.take(BATCH, timeout_s=0.1)
            if mqtt.connected != connected:
                connected = not connected
                frames.send(("s", connected))
            if batch:
                frames.send(("m", [(m.topic, m.payload, m.received_ms, m.mid, m.qos,
                                    m.generation) for m in batch]))
    except OSError:
        stopping.set()  # the gateway has gone: the main thread ends the process


def main() -> int:
    spec: MqttFrontSpec = read_spec()
    frames = _Frames(sys.stdout.buffer)
    queue = IngestQueue(capacity=BATCH * 4)
    mqtt = MqttIngest(spec.target, queue, SystemClock(), GatewayMetrics(),
                      client_id=spec.client_id, gateway_id=None, topic_filters=spec.topics,
                      source=spec.source_id)
    try:
        mqtt.start()
    except Exception as exc:
        log.exception("the subscriber of %s did not start", spec.source_id)
        frames.send(("error", " ".join(str(exc).split())))
        return 1
    frames.send(("ready",))
    stopping = threading.Event()
    forwarder = threading.Thread(target=_forward, args=(mqtt, queue, frames, stopping),
                                 name="forward", daemon=True)
    forwarder.start()
    try:
        while True:
            kind, acks = pickle.load(sys.stdin.buffer)
            if kind == "a":
                mqtt.ack([RawMessage("", b"", 0, mid, qos, generation)
                          for mid, qos, generation in acks])
    except (EOFError, OSError, pickle.UnpicklingError):
        pass  # the gateway closed the pipe or ended
    stopping.set()
    queue.close()
    mqtt.stop()  # unacknowledged messages stay with the broker's session
    forwarder.join(timeout=STOP_TIMEOUT_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
