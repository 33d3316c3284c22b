"""The device registry as the platform sees it: re-read when the CSV file changes, since the
simulator or an operator may rewrite it while the platform runs."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Registry, load_registry

log = logging.getLogger(__name__)


class RegistryCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._registry = Registry([])

    def load(self) -> Registry:
        """Read now; an unusable file is an error (called at start-up)."""
        with self._lock:
            self._stamp = None
            return self._refresh(strict=True)

    def __call__(self) -> Registry:
        with self._lock:
            return self._refresh(strict=False)

    def _refresh(self, *, strict: bool) -> Registry:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if self._stamp is not None or strict:
                log.warning("device registry %s not found: no device is known", self.path)
            self._stamp, self._registry = None, Registry([])
            return self._registry
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return self._registry
        try:
            self._registry = load_registry(self.path)
        except ConfigError as exc:
            if strict:
                raise
            # Keep what was known: a half-edited file must not make every device unknown.
            log.error("device registry not reloaded: %s", exc)
        self._stamp = stamp
        return self._registry
