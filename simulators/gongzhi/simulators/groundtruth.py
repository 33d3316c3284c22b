"""Ground truth: what was injected, and what the platform should make of it (JSON lines).

One line per expected outcome: a fault that should open tickets on three devices writes three
lines sharing a ``fault_id``. ``expected`` is the ticket (kind, severity, assignee, notified
parties) or null for false-alarm material and protocol faults; ``outcome`` says what should
happen to the messages (``ticket``, ``none``, ``rejected``, ``dropped``, ``accepted``,
``clock_corrected``) with the gateway's rejection ``reason`` when one applies; ``also`` lists
ticket kinds that may legitimately accompany the expected one on the fault's ``devices`` (a fire
also sets off single-detector smoke alarms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from gongzhi.simulators.expected import ExpectedTicket


@dataclass(frozen=True, slots=True)
class TruthRecord:
    fault_id: str
    fault: str
    estate_id: str
    device_id: str | None
    building: str | None
    start_ms: int
    end_ms: int
    expected: ExpectedTicket | None
    outcome: str = "ticket"
    reason: str | None = None
    devices: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "fault": self.fault,
            "estate_id": self.estate_id,
            "device_id": self.device_id,
            "building": self.building,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "expected": self.expected.to_dict() if self.expected else None,
            "outcome": self.outcome,
            "reason": self.reason,
            "devices": list(self.devices),
            "also": list(self.also),
            "detail": dict(self.detail),
        }


class GroundTruthWriter:
    """Appends records as they are injected and flushes each, so a run stopped early still
    leaves a complete file of what it did."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self.count = 0

    def open(self) -> GroundTruthWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        return self

    def write(self, records: list[TruthRecord]) -> None:
        if self._file is None or not records:
            return
        for record in records:
            self._file.write(orjson.dumps(record.to_dict()) + b"\n")
        self._file.flush()
        self.count += len(records)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> GroundTruthWriter:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_ground_truth(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
