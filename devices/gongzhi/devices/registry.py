"""The device registry: a CSV file (docs/contract.md) read into frozen records.

Required columns: device_id,type,estate_id,building,unit,floor,room,elderly_alone.
Optional columns: the per-device settings the catalogue names (numbers), text columns
(``phone``, ``riser``, ``household``, ``position``) and ``external_id``, the identity an outside
source knows the device by (a LoRaWAN devEUI in hex, an IMEI, a OneNET device id,
``modbus:<host>:<port>/<unit>``; compared without regard to case), or several separated by
``|`` when a source knows a device by more than one (CTWing: the IMEI and the platform's own
``deviceId``, which its online reports carry alone). Errors name the file and line; an
external id given to two devices is an error.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gongzhi.core.config_kit import ID_PATTERN, ID_RULE
from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import ALL_SETTINGS, DeviceType

REQUIRED_COLUMNS = ("device_id", "type", "estate_id", "building", "unit", "floor", "room",
                    "elderly_alone")
TEXT_COLUMNS = ("phone", "riser", "household", "position")
EXTERNAL_ID = "external_id"
ALSO = "|"  # between the identities of one device in ``external_id``
MAX_EXTERNAL_ID = 128


@dataclass(frozen=True, slots=True)
class Location:
    estate_id: str
    building: str
    unit: str
    floor: str
    room: str

    def to_dict(self) -> dict[str, str]:
        return {"estate_id": self.estate_id, "building": self.building, "unit": self.unit,
                "floor": self.floor, "room": self.room}


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    type: DeviceType
    location: Location
    elderly_alone: bool = False
    settings: Mapping[str, float] = field(default_factory=dict)
    # phone: personal data, masked for parties with no need (docs/domain.md, Privacy).
    phone: str | None = None
    riser: str | None = None
    household: str | None = None
    position: str | None = None
    external_id: str | None = None  # as written; ``external_key`` is how it is matched

    @property
    def estate_id(self) -> str:
        return self.location.estate_id

    def setting(self, name: str, default: float) -> float:
        return self.settings.get(name, default)


def external_key(external_id: str) -> str:
    """How an outside identity is compared: without surrounding space, in lower case."""
    return external_id.strip().lower()


def external_keys(external_id: str) -> list[str]:
    """The keys of each identity an ``external_id`` column gives (``|`` between them)."""
    return [key for part in external_id.split(ALSO) if (key := external_key(part))]


class Registry:
    """Devices by id, with estate and building indexes. Immutable once built."""

    def __init__(self, records: Iterable[DeviceRecord]) -> None:
        self._by_id: dict[str, DeviceRecord] = {}
        self._by_external: dict[str, DeviceRecord] = {}
        for record in records:
            self._by_id[record.device_id] = record
            for key in external_keys(record.external_id or ""):
                other = self._by_external.get(key)
                if other is not None and other.device_id != record.device_id:
                    raise ConfigError(f"external_id {key!r} is given to both "
                                      f"{other.device_id} and {record.device_id}")
                self._by_external[key] = record

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[DeviceRecord]:
        return iter(self._by_id.values())

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._by_id

    def get(self, device_id: str) -> DeviceRecord | None:
        return self._by_id.get(device_id)

    def by_external_id(self, external_id: str) -> DeviceRecord | None:
        """The device an outside source knows as ``external_id`` (see ``external_key``)."""
        return self._by_external.get(external_key(external_id))

    def in_building(self, estate_id: str, building: str) -> list[DeviceRecord]:
        return [r for r in self._by_id.values()
                if r.location.estate_id == estate_id and r.location.building == building]

    def estates(self) -> list[str]:
        return sorted({r.location.estate_id for r in self._by_id.values()})


def _parse_row(row: dict[str, str], source: str) -> DeviceRecord:
    device_id = (row.get("device_id") or "").strip()
    if not ID_PATTERN.fullmatch(device_id):
        raise ConfigError(f"device_id {device_id!r} must be {ID_RULE}",
                          source=source)
    estate_id = (row.get("estate_id") or "").strip()
    if not ID_PATTERN.fullmatch(estate_id):
        raise ConfigError(f"estate_id {estate_id!r} must be {ID_RULE}",
                          source=source)
    try:
        device_type = DeviceType((row.get("type") or "").strip())
    except ValueError:
        raise ConfigError(
            f"type {row.get('type')!r} is not one of {', '.join(t.value for t in DeviceType)}",
            source=source) from None
    flag = (row.get("elderly_alone") or "0").strip()
    if flag not in ("0", "1"):
        raise ConfigError(f"elderly_alone must be 0 or 1, got {flag!r}", source=source)
    settings: dict[str, float] = {}
    for name in ALL_SETTINGS:
        raw = (row.get(name) or "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}", source=source) from None
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be finite, got {raw!r}", source=source)
        settings[name] = value
    text = {name: ((row.get(name) or "").strip() or None) for name in TEXT_COLUMNS}
    external_id = (row.get(EXTERNAL_ID) or "").strip() or None
    if external_id is not None and (len(external_id) > MAX_EXTERNAL_ID
                                    or not external_id.isprintable() or " " in external_id
                                    or "" in external_id.split(ALSO)):
        raise ConfigError(f"external_id {external_id[:64]!r} must be 1-{MAX_EXTERNAL_ID} "
                          f"printable characters without spaces (identities separated by "
                          f"'{ALSO}', none empty)", source=source)
    return DeviceRecord(
        device_id=device_id,
        type=device_type,
        location=Location(estate_id, *((row.get(c) or "").strip()
                                       for c in ("building", "unit", "floor", "room"))),
        elderly_alone=flag == "1",
        settings=settings,
        external_id=external_id,
        **text,
    )


def parse_registry(text: str, source: str = "<registry>") -> Registry:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)}", source=f"{source}:1")
    records: list[DeviceRecord] = []
    seen: set[str] = set()
    external: dict[str, tuple[str, str]] = {}  # key -> (device_id, line)
    for row in reader:
        where = f"{source}:{reader.line_num}"
        record = _parse_row(row, where)
        if record.device_id in seen:
            raise ConfigError(f"duplicate device_id {record.device_id!r}", source=where)
        seen.add(record.device_id)
        for key in external_keys(record.external_id or ""):
            if key in external:
                other, line = external[key]
                raise ConfigError(f"duplicate external_id {key!r}: {other} has it already "
                                  f"(line {line})", source=where)
            external[key] = (record.device_id, str(reader.line_num))
        records.append(record)
    return Registry(records)


def load_registry(path: Path) -> Registry:
    try:
        # (utf-8-sig: a spreadsheet's "CSV UTF-8" export starts with a byte-order mark)
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read registry: {exc.strerror}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    return parse_registry(text, source=str(path))


def registry_columns(records: Iterable[DeviceRecord]) -> list[str]:
    rows = list(records)
    used_settings = sorted({k for r in rows for k in r.settings})
    external = [EXTERNAL_ID] if any(r.external_id for r in rows) else []
    return [*REQUIRED_COLUMNS, *TEXT_COLUMNS, *external, *used_settings]


def write_registry(path: Path, records: Iterable[DeviceRecord]) -> None:
    """Write atomically (a reader never sees half a file)."""
    rows = list(records)
    columns = registry_columns(rows)
    settings_at = len(REQUIRED_COLUMNS) + len(TEXT_COLUMNS) + (EXTERNAL_ID in columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        base = [r.device_id, r.type.value, *r.location.to_dict().values()]
        # location.to_dict starts with estate_id: the CSV order is type, estate_id, building...
        writer.writerow([
            *base,
            "1" if r.elderly_alone else "0",
            *((getattr(r, c) or "") for c in TEXT_COLUMNS),
            *([r.external_id or ""] if EXTERNAL_ID in columns else []),
            *((_fmt(r.settings[c]) if c in r.settings else "") for c in columns[settings_at:]),
        ])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
