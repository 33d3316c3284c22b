"""The ``modbus`` source kind: polling Modbus TCP or RTU (serial) slaves with pymodbus (async).

Options::

    transport: tcp                  # tcp | rtu
    host: 10.0.0.20                 # tcp: the slave or the RS-485 to TCP converter
    port: 502
    # rtu: serial: /dev/ttyUSB0, baudrate: 9600, parity: N, stopbits: 1, bytesize: 8
    period: 10s                     # each slave is read once per period
    timeout: 1s                     # per request
    retries: 2                      # a failed poll is tried again this often, after a
    backoff: 200ms                  # backoff (core.backoff: up to 200 ms, 400 ms, ... jittered)
    maps:                           # register maps by name (files relative to the sources file)
      rcm: maps/residual_current_monitor.example.yaml
    slaves:
      - unit: 1                     # the Modbus unit (slave) id, 0-247
        map: rcm
        # external_id: modbus:10.0.0.20:502/1   (the default; the registry's external_id)

A register map with an error fails the gateway's start naming the map's ``file:line``.

Per slave: each period its points are read (``modbus_map.plan_reads``: as few requests as the
protocol allows); the values, scaled, go to the pipeline as telemetry of the device whose
registry ``external_id`` is the slave's (``modbus:<host>:<port>/<unit>``, or
``modbus:<serial>/<unit>``); an event point that turns on sends its event once (again only
after it was off). A slave that does not answer a poll (after its retries) is reported
``offline`` at once, like a device's last will (so a building's silent monitors make one
offline cluster); its first answer after that reports it ``online`` again. Slaves on one line
(one TCP connection or serial port) are read one after the other, as RS-485 requires.

Values outside the catalogue's physical range are refused by the pipeline (dead letter
``out_of_range``), as any device's. Readings are not acknowledged by the slave: a reading taken
while the gateway stops is lost, and the next poll reads the registers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from gongzhi.core.backoff import Backoff
from gongzhi.core.config_kit import STRICT_CONFIG, ConfigValueError, PositiveDuration
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.modbus_map import (
    Function,
    Read,
    RegisterMap,
    decode,
    load_register_map,
    plan_reads,
)
from gongzhi.devices.registry import Registry
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import (
    Source,
    SourceContext,
    SourceHealth,
    SourceKind,
    native_event,
    native_status,
    native_telemetry,
)

log = logging.getLogger(__name__)


class SlaveOptions(BaseModel):
    model_config = STRICT_CONFIG

    unit: Annotated[int, Field(ge=0, le=247)]
    map: str
    external_id: str | None = None


class ModbusOptions(BaseModel):
    model_config = STRICT_CONFIG

    transport: Literal["tcp", "rtu"] = "tcp"
    host: str | None = None
    port: Annotated[int, Field(ge=0, le=65535)] = 502
    serial: str | None = None
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    period: PositiveDuration = 10.0
    timeout: PositiveDuration = 1.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff: PositiveDuration = 0.2
    maps: dict[str, RegisterMap]
    slaves: Annotated[list[SlaveOptions], Field(min_length=1)]

    @field_validator("maps", mode="before")
    @classmethod
    def _load_maps(cls, value: Any, info: ValidationInfo) -> Any:
        """Map names to files: each file read and checked now (its errors name its lines)."""
        if not isinstance(value, dict):
            return value
        base: Path | None = (info.context or {}).get("base")
        loaded: dict[str, Any] = {}
        for name, where in value.items():
            if isinstance(where, str):
                path = Path(where)
                loaded[name] = load_register_map(base / path if base and not path.is_absolute()
                                                 else path)
            else:
                loaded[name] = where
        return loaded

    @model_validator(mode="after")
    def _check(self) -> ModbusOptions:
        if self.transport == "tcp" and not self.host:
            raise ConfigValueError("a tcp line needs its host", "host")
        if self.transport == "rtu" and not self.serial:
            raise ConfigValueError("an rtu line needs its serial port (e.g. /dev/ttyUSB0)",
                                   "serial")
        units: set[int] = set()
        for i, slave in enumerate(self.slaves):
            if slave.map not in self.maps:
                raise ConfigValueError(f"no register map named {slave.map!r} (maps: "
                                       f"{', '.join(sorted(self.maps))})", "slaves", i, "map")
            if slave.unit in units:
                raise ConfigValueError(f"unit {slave.unit} is listed twice", "slaves", i,
                                       "unit")
            units.add(slave.unit)
        return self

    def line_name(self) -> str:
        if self.transport == "tcp":
            return f"{self.host}:{self.port}"
        return str(self.serial)


def default_external_id(options: ModbusOptions, unit: int) -> str:
    return f"modbus:{options.line_name()}/{unit}"


@dataclass
class Slave:
    unit: int
    external_id: str
    register_map: RegisterMap
    reads: list[Read]
    online: bool | None = None  # None: not polled yet
    flags: dict[str, bool] = field(default_factory=dict)
    last_error: str = ""
    offline_cycle: int = 0  # the poll round in which it was last reported offline


class PollFailed(Exception):
    pass


class ModbusSource:
    """One line of slaves, polled from an event loop in a thread of its own."""

    def __init__(self, context: SourceContext, options: ModbusOptions) -> None:
        self._ctx = context
        self._options = options
        self.slaves = [Slave(s.unit, s.external_id or default_external_id(options, s.unit),
                             options.maps[s.map], plan_reads(options.maps[s.map]))
                       for s in options.slaves]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._backoff = Backoff(first_s=options.backoff, max_s=max(options.backoff,
                                                                   options.period),
                                floor_s=options.backoff / 2)
        self._rng = random.Random(context.source_id)  # jitter; seeded: runs are repeatable
        self.registers_read = 0
        self.polls = 0  # slave polls answered
        self.cycles = 0  # rounds over the line's slaves begun

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,),
                                        name=f"modbus-{self._ctx.source_id}", daemon=True)
        self._thread.start()
        started.wait(10)

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def health(self) -> SourceHealth:
        if self._thread is None or not self._thread.is_alive():
            return SourceHealth(False, "the poller is not running")
        silent = [s for s in self.slaves if s.online is False]
        if silent and len(silent) == len(self.slaves):
            return SourceHealth(False, f"no slave on {self._options.line_name()} answers "
                                       f"({silent[0].last_error})")
        return SourceHealth(True, f"{len(silent)} of {len(self.slaves)} slaves do not answer"
                            if silent else "")

    # --- the pipeline's side --------------------------------------------------------------

    def translate(self, raw: RawMessage, registry: Registry) -> Sequence[RawMessage]:
        body = parse_json(raw.payload)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise RejectedMessage(Reason.BAD_SHAPE, "not a Modbus reading")
        record = registry.by_external_id(body["id"])
        if record is None:
            raise RejectedMessage(Reason.UNKNOWN_DEVICE, "no device of the registry has the "
                                                         f"external_id {body['id']}")
        out: list[RawMessage] = []
        status = body.get("status")
        if status == "offline":
            return [native_status(raw, record, False)]
        if status == "online":
            out.append(native_status(raw, record, True))
        ts = body.get("ts")
        values = body.get("values") or {}
        if values:
            out.append(native_telemetry(raw, record, values, ts))
        for event in body.get("events") or ():
            out.append(native_event(raw, record, event, {"source": "modbus", "slave": body["id"]},
                                    ts))
        return out

    def ack(self, messages: Sequence[RawMessage]) -> None:
        return None  # a slave keeps no queue: nothing to acknowledge

    # --- polling ---------------------------------------------------------------------------

    def _run(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(started))
        except Exception:
            log.exception("the Modbus poller of %s stopped", self._ctx.source_id)
        finally:
            started.set()
            loop.close()

    def _client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        o = self._options
        if o.transport == "tcp":
            assert o.host is not None
            return AsyncModbusTcpClient(o.host, port=o.port, timeout=o.timeout, retries=0,
                                        reconnect_delay=0, name=f"modbus-{self._ctx.source_id}")
        assert o.serial is not None
        return AsyncModbusSerialClient(o.serial, baudrate=o.baudrate, parity=o.parity,
                                       stopbits=o.stopbits, bytesize=o.bytesize,
                                       timeout=o.timeout, retries=0, reconnect_delay=0,
                                       name=f"modbus-{self._ctx.source_id}")

    async def _main(self, started: threading.Event) -> None:
        self._stop = stop = asyncio.Event()
        started.set()
        client = self._client()
        loop = asyncio.get_running_loop()
        try:
            next_at = loop.time()
            while not stop.is_set():
                self.cycles += 1
                for slave in self.slaves:
                    if stop.is_set():
                        break
                    await self._poll(client, slave, stop)
                next_at += self._options.period
                delay = next_at - loop.time()
                if delay < 0:  # the line is slower than the period: start again now
                    next_at, delay = loop.time(), 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            client.close()

    async def _poll(self, client: AsyncModbusTcpClient | AsyncModbusSerialClient, slave: Slave,
                    stop: asyncio.Event) -> None:
        o = self._options
        answers: dict[tuple[Function, int], Any] = {}
        for attempt in range(o.retries + 1):
            try:
                answers = await self._read_all(client, slave)
                break
            except PollFailed as exc:
                slave.last_error = str(exc)
                if attempt == o.retries or stop.is_set():
                    self._silent(slave)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._backoff.delay(attempt + 1,
                                                                            self._rng))
        self.polls += 1
        decoded = decode(slave.register_map, answers)
        rising = [p.event for p in slave.register_map.points
                  if p.event is not None and decoded.flags.get(p.name)
                  and not slave.flags.get(p.name)]
        slave.flags = decoded.flags
        body: dict[str, Any] = {"id": slave.external_id, "ts": self._ctx.clock.now_ms(),
                                "values": decoded.values}
        if rising:
            body["events"] = rising
        if slave.online is False:
            body["status"] = "online"
            log.info("Modbus slave %s answers again", slave.external_id)
        slave.online = True
        self._ctx.put(f"modbus/{self._ctx.source_id}", orjson.dumps(body))

    def _silent(self, slave: Slave) -> None:
        if slave.online is False:
            return
        log.warning("Modbus slave %s does not answer (%s): offline", slave.external_id,
                    slave.last_error)
        slave.online = False
        slave.offline_cycle = self.cycles
        slave.flags = {}
        self._ctx.put(f"modbus/{self._ctx.source_id}",
                      orjson.dumps({"id": slave.external_id, "status": "offline"}))

    async def _read_all(self, client: AsyncModbusTcpClient | AsyncModbusSerialClient,
                        slave: Slave) -> dict[tuple[Function, int], Any]:
        timeout = self._options.timeout
        try:
            if not client.connected:
                await asyncio.wait_for(client.connect(), timeout)
                if not client.connected:
                    raise PollFailed(f"cannot connect to {self._options.line_name()}")
            answers: dict[tuple[Function, int], Any] = {}
            for read in slave.reads:
                call = {Function.COILS: client.read_coils,
                        Function.DISCRETE_INPUTS: client.read_discrete_inputs,
                        Function.HOLDING_REGISTERS: client.read_holding_registers,
                        Function.INPUT_REGISTERS: client.read_input_registers}[read.function]
                response = await asyncio.wait_for(
                    call(read.address, count=read.count, device_id=slave.unit), timeout)
                if response.isError():
                    raise PollFailed(f"unit {slave.unit} refused function {int(read.function)} "
                                     f"at {read.address}: {response}")
                answers[(read.function, read.address)] = (
                    response.bits if read.function.is_bits else response.registers)
                self.registers_read += read.count
            return answers
        except PollFailed:
            raise
        except (ModbusException, TimeoutError, OSError) as exc:
            raise PollFailed(f"{type(exc).__name__}: {exc}"[:300]) from None


def build(context: SourceContext, options: ModbusOptions) -> Source:
    return ModbusSource(context, options)


KIND: SourceKind[ModbusOptions] = SourceKind("modbus", ModbusOptions, build)
