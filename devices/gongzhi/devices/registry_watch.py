"""The registry file of a running process: read at start, re-read when it changes.

The simulator or an operator may rewrite the registry while the gateway and the platform run, so
both hold one ``RegistryWatch``:

- ``load()`` reads the file now (start-up): a file that exists and is unusable is a
  ``ConfigError``; a missing file means an empty registry (logged) until it appears, since the
  demo's simulator writes it after the other processes start.
- ``poll(force=False)`` is for a process that checks on its own schedule (the gateway's worker):
  the new registry when the file changed since it was last read (or ``force``, after SIGHUP),
  else None. An unusable file raises ``ConfigError`` once and keeps the previous registry in
  force; it is tried again when the file changes.
- ``current()`` (or calling the watch) is for callers on every request (the platform): the
  registry in force, checking the file at most once per ``check_every_ms`` of the injected
  clock. An unusable file is logged and the previous registry kept: a half-written file must
  not make every device unknown.

A file counts as changed when its modification time or size differs. The constructor does no
I/O; the methods are thread-safe.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from gongzhi.core.clock import Clock
from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Registry, load_registry

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None  # (mtime_ns, size); None: no file


class RegistryWatch:
    def __init__(self, path: Path, clock: Clock, *, check_every_ms: int = 1000) -> None:
        self.path = path
        self._clock = clock
        self._check_every_ms = check_every_ms
        self._lock = threading.Lock()
        self._registry = Registry([])
        self._read: Stamp = None  # the stamp of the file last read (or refused)
        self._checked_at: int | None = None

    def load(self) -> Registry:
        """Read the file now; ``ConfigError`` when it exists and is unusable."""
        with self._lock:
            return self._read_file(self._stamp())

    def poll(self, *, force: bool = False) -> Registry | None:
        """The registry read anew if the file changed (or ``force``), else None."""
        with self._lock:
            stamp = self._stamp()
            if stamp == self._read and not force:
                return None
            return self._read_file(stamp)

    def current(self) -> Registry:
        """The registry in force, the file checked at most once per ``check_every_ms``."""
        with self._lock:
            now = self._clock.now_ms()
            if self._checked_at is not None and now - self._checked_at < self._check_every_ms:
                return self._registry
            self._checked_at = now
            stamp = self._stamp()
            if stamp != self._read:
                try:
                    self._read_file(stamp)
                except ConfigError as exc:
                    log.error("device registry not reloaded, keeping the previous one: %s", exc)
            return self._registry

    __call__ = current

    def _stamp(self) -> Stamp:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _read_file(self, stamp: Stamp) -> Registry:
        self._checked_at = self._clock.now_ms()
        if stamp is None:
            log.warning("device registry %s does not exist (yet): no device is known until it "
                        "does", self.path)
            self._read, self._registry = None, Registry([])
            return self._registry
        try:
            registry = load_registry(self.path)
        except ConfigError:
            self._read = stamp  # not again until the file changes
            raise
        self._read, self._registry = stamp, registry
        log.info("device registry %s: %d devices", self.path, len(registry))
        return registry
