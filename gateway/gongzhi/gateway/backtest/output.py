"""The alarms of a replay as JSON lines: the gateway's alarm message (``Alarm.to_dict``) with
``ts`` (epoch ms) beside ``ts_ms``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from gongzhi.core.alarms import Alarm
from gongzhi.core.errors import ConfigError


def alarm_line(alarm: Alarm) -> dict[str, Any]:
    line = alarm.to_dict()
    line["ts"] = alarm.ts_ms
    return line


def write_alarms(path: Path, alarms: Iterable[Alarm]) -> int:
    """Write each alarm as it comes (a long replay shows progress); returns how many."""
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for alarm in alarms:
                handle.write(orjson.dumps(alarm_line(alarm)) + b"\n")
                count += 1
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", source=str(path)) from None
    return count
