"""A report sent to the platform every few seconds from a thread of its own (device states,
the gateway's health): started and stopped with the gateway, never ended by one failed pass."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PeriodicReport:
    """Calls ``report_once`` every ``interval_s`` (first at once when ``at_start``)."""

    name = "report"
    at_start = False

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def report_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        if self.at_start or not self._stopping.wait(self._interval_s):
            while True:
                try:
                    self.report_once()
                except Exception:  # keep reporting whatever one pass hit
                    log.exception("%s report failed", self.name)
                if self._stopping.wait(self._interval_s):
                    return
