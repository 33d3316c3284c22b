"""Modbus register maps: which registers a device model has and what each one means (read by
the gateway's ``modbus`` source and by the simulators' Modbus server; an example map ships in
``gateway/gongzhi/gateway/sources/maps/``).

A map is a YAML file per device model, read with the configuration kit (an error names
``file:line``)::

    model: residual_current_monitor          # free text, for people and logs
    device_type: electrical                  # a catalogue type: metrics are checked against it
    byte_order: big                          # default for every point: big | little
    word_order: big                          # default for 32-bit points: big | little
    points:
      - name: residual_current               # free text, unique in the map
        function: 4                          # 3 holding registers, 4 input registers,
        address: 0                           # 1 coils, 2 discrete inputs; address 0-65535
        type: uint16                         # int16 uint16 int32 uint32 float32 (registers)
        scale: 1.0                           # value = raw * scale + offset
        offset: 0
        metric: residual_ma                  # a catalogue metric of device_type ...
      - name: arc_fault_alarm
        function: 2
        address: 0
        event: arc_fault                     # ... or a catalogue event, sent when the bit
                                             # (or ``bit`` of a register) turns on

``count`` may be given; it must be the type's own (1 register for 16-bit types, 2 for 32-bit
ones, 1 for coils and discrete inputs). Everything here is pure: ``plan_reads`` groups the
points into as few requests as the protocol allows and ``decode`` turns the answers into values.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from gongzhi.core.config_kit import STRICT_CONFIG, ConfigValueError, load_model
from gongzhi.devices.catalogue import DeviceType, spec_for

MAX_REGISTERS_PER_READ = 125  # Modbus application protocol: read registers
MAX_BITS_PER_READ = 2000  # read coils / discrete inputs


class Function(IntEnum):
    COILS = 1
    DISCRETE_INPUTS = 2
    HOLDING_REGISTERS = 3
    INPUT_REGISTERS = 4

    @property
    def is_bits(self) -> bool:
        return self in (Function.COILS, Function.DISCRETE_INPUTS)


class RegisterType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"


WIDTH: dict[RegisterType, int] = {RegisterType.INT16: 1, RegisterType.UINT16: 1,
                                  RegisterType.INT32: 2, RegisterType.UINT32: 2,
                                  RegisterType.FLOAT32: 2}
_STRUCT = {RegisterType.INT16: "h", RegisterType.UINT16: "H", RegisterType.INT32: "i",
           RegisterType.UINT32: "I", RegisterType.FLOAT32: "f"}

Order = Literal["big", "little"]


class Point(BaseModel):
    model_config = STRICT_CONFIG

    name: Annotated[str, Field(min_length=1, max_length=64)]
    function: Function
    address: Annotated[int, Field(ge=0, le=65535)]
    type: RegisterType = RegisterType.UINT16
    count: int | None = None
    byte_order: Order | None = None
    word_order: Order | None = None
    scale: float = 1.0
    offset: float = 0.0
    metric: str | None = None
    event: str | None = None
    bit: Annotated[int, Field(ge=0, le=15)] | None = None

    @property
    def width(self) -> int:
        return 1 if self.function.is_bits else WIDTH[self.type]

    @model_validator(mode="after")
    def _check(self) -> Point:
        if (self.metric is None) == (self.event is None):
            raise ValueError(f"point {self.name!r} needs exactly one of 'metric' or 'event'")
        if self.count is not None and self.count != self.width:
            raise ConfigValueError(f"count {self.count} does not fit: this point takes "
                                   f"{self.width} (function {int(self.function)}, "
                                   f"type {self.type.value})", "count")
        if self.function.is_bits and self.metric is not None:
            raise ConfigValueError("coils and discrete inputs are on/off: map them to an "
                                   "'event', not a metric", "metric")
        if self.bit is not None and (self.function.is_bits or self.event is None):
            raise ConfigValueError("'bit' picks one bit of a register for an event", "bit")
        if self.address + self.width - 1 > 65535:
            raise ConfigValueError("the point runs past address 65535", "address")
        return self


class RegisterMap(BaseModel):
    model_config = STRICT_CONFIG

    model: Annotated[str, Field(min_length=1, max_length=128)]
    device_type: DeviceType
    byte_order: Order = "big"
    word_order: Order = "big"
    points: Annotated[list[Point], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> RegisterMap:
        spec = spec_for(self.device_type)
        seen: set[str] = set()
        metrics: set[str] = set()
        for i, point in enumerate(self.points):
            if point.name in seen:
                raise ConfigValueError(f"point name {point.name!r} is used twice", "points", i,
                                       "name")
            seen.add(point.name)
            if point.metric in metrics:
                raise ConfigValueError(f"metric {point.metric!r} is mapped twice", "points", i,
                                       "metric")
            if point.metric is not None:
                metrics.add(point.metric)
            if point.metric is not None and point.metric not in spec.metrics:
                raise ConfigValueError(
                    f"{point.metric!r} is not a metric of {self.device_type.value} devices "
                    f"(known: {', '.join(sorted(spec.metrics))})", "points", i, "metric")
            if point.event is not None and point.event not in spec.events:
                raise ConfigValueError(
                    f"{point.event!r} is not an event of {self.device_type.value} devices "
                    f"(known: {', '.join(sorted(spec.events))})", "points", i, "event")
        return self

    @property
    def register_count(self) -> int:
        """Registers and bits read per poll (what the bench counts)."""
        return sum(read.count for read in plan_reads(self))


def load_register_map(path: Path) -> RegisterMap:
    """Read and check a map; ``ConfigError`` naming ``file:line`` when it is wrong."""
    return load_model(path, RegisterMap)


@dataclass(frozen=True, slots=True)
class Read:
    """One request: ``count`` registers (or bits) of ``function`` from ``address``."""

    function: Function
    address: int
    count: int
    points: tuple[Point, ...]


def plan_reads(register_map: RegisterMap, *, max_gap: int = 8) -> list[Read]:
    """The points grouped into as few requests as the protocol allows: points of one function
    whose addresses lie within ``max_gap`` of each other share a read (reading a few unused
    registers is cheaper than another round trip on RS-485)."""
    reads: list[Read] = []
    by_function: dict[Function, list[Point]] = {}
    for point in register_map.points:
        by_function.setdefault(point.function, []).append(point)
    for function in sorted(by_function):
        limit = MAX_BITS_PER_READ if function.is_bits else MAX_REGISTERS_PER_READ
        points = sorted(by_function[function], key=lambda p: p.address)
        group: list[Point] = []
        start = end = 0
        for point in points:
            last = point.address + point.width
            if group and (point.address - end > max_gap or last - start > limit):
                reads.append(Read(function, start, end - start, tuple(group)))
                group = []
            if not group:
                start = point.address
                end = last
            group.append(point)
            end = max(end, last)
        if group:
            reads.append(Read(function, start, end - start, tuple(group)))
    return reads


def register_value(words: Sequence[int], point: Point, register_map: RegisterMap) -> float:
    """A register point's raw number from its 16-bit words, per byte and word order."""
    byte_order = point.byte_order or register_map.byte_order
    word_order = point.word_order or register_map.word_order
    parts = list(words[:point.width])
    if word_order == "little":
        parts.reverse()
    raw = b"".join(int(w & 0xFFFF).to_bytes(2, "big") for w in parts)
    if byte_order == "little":  # bytes swapped within each word
        raw = b"".join(raw[i + 1:i + 2] + raw[i:i + 1] for i in range(0, len(raw), 2))
    (value,) = struct.unpack(">" + _STRUCT[point.type], raw)
    return float(value)


@dataclass(frozen=True, slots=True)
class Decoded:
    values: dict[str, float]  # metric -> value (scaled)
    flags: dict[str, bool]  # event point name -> on


def decode(register_map: RegisterMap, answers: Mapping[tuple[Function, int],
                                                       Sequence[int] | Sequence[bool]]) -> Decoded:
    """The points' values from the answers to ``plan_reads`` (keyed by function and start
    address): metrics scaled and offset; event points as on/off flags."""
    values: dict[str, float] = {}
    flags: dict[str, bool] = {}
    for read in plan_reads(register_map):
        data = answers[(read.function, read.address)]
        for point in read.points:
            at = point.address - read.address
            if read.function.is_bits:
                flags[point.name] = bool(data[at])
                continue
            words = [int(w) for w in data[at:at + point.width]]
            if point.event is not None:
                raw = int(register_value(words, point, register_map))
                flags[point.name] = bool(raw >> point.bit & 1) if point.bit is not None \
                    else raw != 0
                continue
            assert point.metric is not None
            # Rounded: a scale of 0.1 must not turn 2201 counts into 220.10000000000002 V.
            values[point.metric] = round(register_value(words, point, register_map)
                                         * point.scale + point.offset, 9)
    return Decoded(values, flags)


def encode_value(value: float, point: Point, register_map: RegisterMap) -> list[int]:
    """The 16-bit words a device would hold for ``value`` (for simulators and tests): the
    inverse of ``register_value`` after scale and offset."""
    raw_number = (value - point.offset) / point.scale if point.scale else 0.0
    fmt = _STRUCT[point.type]
    number: float | int = raw_number if point.type is RegisterType.FLOAT32 else round(raw_number)
    raw = struct.pack(">" + fmt, number)
    byte_order = point.byte_order or register_map.byte_order
    word_order = point.word_order or register_map.word_order
    if byte_order == "little":
        raw = b"".join(raw[i + 1:i + 2] + raw[i:i + 1] for i in range(0, len(raw), 2))
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    if word_order == "little":
        words.reverse()
    return words
