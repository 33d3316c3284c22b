"""A calendar month in the duty matrix's local time, as the epoch milliseconds it spans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True)
class Month:
    label: str  # 2026-11
    start_ms: int
    end_ms: int  # exclusive
    timezone: str

    @property
    def days(self) -> int:
        return round((self.end_ms - self.start_ms) / 86_400_000)


def parse_month(text: str, timezone: str) -> Month:
    """``YYYY-MM`` in ``timezone``; ValueError for anything else."""
    found = _MONTH.fullmatch(text.strip())
    if not found:
        raise ValueError(f"a month is written YYYY-MM, e.g. 2026-11; got {text!r}")
    year, month = int(found[1]), int(found[2])
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return Month(f"{year:04d}-{month:02d}", int(start.timestamp() * 1000),
                 int(end.timestamp() * 1000), timezone)


def month_at(ts_ms: int, timezone: str) -> Month:
    """The month that holds ``ts_ms`` in ``timezone``."""
    local = datetime.fromtimestamp(ts_ms / 1000, tz=ZoneInfo(timezone))
    return parse_month(f"{local.year:04d}-{local.month:02d}", timezone)


def local_date(ts_ms: int, timezone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=ZoneInfo(timezone)).strftime("%Y-%m-%d")
