"""The hand-over between paho's network thread and the ingest worker.

paho's thread only appends; the worker takes batches. The queue is bounded: when full, ``put``
blocks paho's thread, which stops reading the socket, so the broker holds the rest (QoS 1 flow
control) instead of the gateway's memory growing without limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from gongzhi.gateway.messages import RawMessage

DEFAULT_CAPACITY = 50_000


class IngestQueue:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: deque[RawMessage] = deque()
        lock = threading.Lock()
        self._ready = threading.Condition(lock)
        self._room = threading.Condition(lock)
        self._closed = False
        self._consumer_waiting = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: RawMessage) -> None:
        with self._ready:
            while len(self._items) >= self.capacity and not self._closed:
                self._room.wait(0.5)
            self._items.append(item)
            if self._consumer_waiting:  # wake the worker only when it waits for a first item
                self._ready.notify()

    def take(self, max_items: int, timeout_s: float, linger_s: float = 0.0) -> list[RawMessage]:
        """Up to ``max_items`` in arrival order. Waits at most ``timeout_s`` for the first; then,
        if the batch is not full, ``linger_s`` more for others to arrive: a batch costs about the
        same whatever its size, so a few milliseconds of patience save most of the work."""
        with self._ready:
            if not self._items:
                self._consumer_waiting = True
                self._ready.wait(timeout_s)
                self._consumer_waiting = False
            if not self._items:
                return []
            short = len(self._items) < max_items
        if short and linger_s > 0:
            time.sleep(linger_s)
        with self._ready:
            count = min(max_items, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            self._room.notify_all()
            return batch

    def oldest_received_ms(self) -> int | None:
        try:
            return self._items[0].received_ms
        except IndexError:
            return None

    def close(self) -> None:
        """Unblock a producer waiting for room (shutdown)."""
        with self._ready:
            self._closed = True
            self._room.notify_all()
