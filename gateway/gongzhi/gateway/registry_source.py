"""The registry file as the gateway sees it: loaded at start, reloaded when its mtime changes
(checked periodically, or at once after SIGHUP). A file that fails to parse on reload keeps the
previous registry in force (logged); a missing file at start means an empty registry until the
file appears (the demo's simulator writes it after the gateway starts)."""

from __future__ import annotations

import logging
from pathlib import Path

from gongzhi.devices.registry import Registry, load_registry

log = logging.getLogger(__name__)


class RegistrySource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime_ns: int | None = None

    def _stamp(self) -> int | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns ^ stat.st_size

    def load(self) -> Registry:
        """The registry now (``ConfigError`` when the file exists and is invalid)."""
        stamp = self._stamp()
        if stamp is None:
            log.warning("registry %s does not exist yet: no device is known until it does",
                        self.path)
            self._mtime_ns = None
            return Registry([])
        registry = load_registry(self.path)
        self._mtime_ns = stamp
        log.info("registry %s: %d devices", self.path, len(registry))
        return registry

    def changed(self) -> bool:
        return self._stamp() != self._mtime_ns
