"""A lean QoS 1 load generator for the benchmarks: MQTT 3.1.1 packets built by hand and written
to the socket in 10 ms slices, PUBACKs counted by a reader thread.

On a two-core machine a paho publisher at 10,000 msg/s takes most of a core from the gateway it
is meant to measure; this one costs a small fraction of that, so the figures are the gateway's.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive_s: int = 60) -> bytes:
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s) + _utf8(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    body = _utf8(topic) + struct.pack("!H", mid) + payload
    return b"\x32" + _remaining_length(len(body)) + body


class RawPublisher:
    """One connection; ``publish_paced`` sends at a fixed rate and waits for every PUBACK."""

    def __init__(self, port: int, client_id: str) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._read_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: {connack!r}")
        self.acked = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            whole = len(pending) - len(pending) % 4  # PUBACK: 0x40 0x02 <mid>
            self.acked += whole // 4
            pending = pending[whole:]

    def send(self, packet: bytes) -> None:
        """Write one packet now (its PUBACK is counted like the others)."""
        self._sock.sendall(packet)

    def publish_paced(self, messages: Callable[[int], tuple[str, bytes]], rate: int,
                      seconds: float, slice_s: float = 0.01) -> float:
        """Publish ``messages(n)`` for n = 0, 1, ... at ``rate`` msg/s; returns the seconds the
        publishing took (the achieved rate is count / that)."""
        per_slice = max(1, round(rate * slice_s))
        slices = round(seconds / slice_s)
        start = time.monotonic()
        n = 0
        for k in range(slices):
            packets = []
            for _ in range(per_slice):
                topic, payload = messages(n)
                packets.append(publish_packet(topic, payload, n % 65535 + 1))
                n += 1
            self._sock.sendall(b"".join(packets))
            pause = start + (k + 1) * slice_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 60
        while self.acked < n and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.acked < n:
            raise TimeoutError(f"{n - self.acked} of {n} publishes not acknowledged")
        return elapsed

    def close(self) -> None:
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT: no will, a clean goodbye
        finally:
            self._sock.close()
