"""Static partitioning of devices over gateway replicas.

Detection state is per device, so every message of a device must reach the same replica.
``Settings.gateway_partition`` = ``INDEX/COUNT`` (e.g. ``0/2``) gives a replica the estates whose
stable hash (CRC-32 of the id, the same in every process and Python version) modulo COUNT is
INDEX; ``INDEX/COUNT/building`` splits by (estate, building) instead, for a city with a few very
large estates. Every replica still receives every message and skips the others' cheaply; on a
clustered broker, shared subscriptions with a hash strategy spread the traffic itself
(docs/gateway.md).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from gongzhi.core.errors import ConfigError

_SPEC = re.compile(r"(\d+)/(\d+)(?:/(estate|building))?")


@dataclass(frozen=True, slots=True)
class Partition:
    index: int = 0
    count: int = 1
    by_building: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> Partition:
        if not spec:
            return cls()
        match = _SPEC.fullmatch(spec.strip())
        if not match:
            raise ConfigError(f"GONGZHI_GATEWAY_PARTITION must be INDEX/COUNT[/estate|/building], "
                              f"got {spec!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 0 <= index < count:
            raise ConfigError(f"GONGZHI_GATEWAY_PARTITION: need 0 <= INDEX < COUNT, got {spec!r}")
        return cls(index, count, match.group(3) == "building")

    @property
    def is_whole(self) -> bool:
        return self.count == 1

    def owns(self, estate_id: str, building: str | None = None) -> bool:
        if self.count == 1:
            return True
        key = f"{estate_id}/{building}" if self.by_building and building is not None \
            else estate_id
        return zlib.crc32(key.encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}" + ("/building" if self.by_building else "")
