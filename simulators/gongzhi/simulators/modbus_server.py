"""A Modbus TCP server (pymodbus) standing in for a line of electrical fire monitors: one unit
per simulated monitor, its registers laid out by a register map, its values set from the
simulation (``set_reading``). For the ``modbus`` protocol of the simulators, the tests and the
bench. Runs its own event loop in a thread; ``start``/``stop`` (stop, then start again on the
same port: a monitor line going down and coming back).

Each unit keeps its register image here; pymodbus's access hook copies it into the server's
registers on every request, so a reading set from another thread is what the next poll gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections.abc import Mapping
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from gongzhi.devices.modbus_map import Function, RegisterMap, encode_value

log = logging.getLogger(__name__)

_ORDER = (Function.COILS, Function.DISCRETE_INPUTS, Function.HOLDING_REGISTERS,
          Function.INPUT_REGISTERS)


def _image_size(register_map: RegisterMap, function: Function) -> int:
    """Registers of ``function``'s block (bits packed 16 to a register)."""
    end = max((p.address + p.width for p in register_map.points if p.function is function),
              default=0) + 1
    return end // 16 + 1 if function.is_bits else end


class _Unit:
    def __init__(self, unit: int, register_map: RegisterMap, busy: bool) -> None:
        self.unit = unit
        self.register_map = register_map
        self.image = {f: [0] * _image_size(register_map, f) for f in _ORDER}
        self.busy = busy  # answer DEVICE_BUSY until the first set_reading

    def device(self, lock: threading.Lock) -> SimDevice:
        blocks = tuple([SimData(0, count=len(self.image[f]) * (16 if f.is_bits else 1),
                                datatype=DataType.BITS if f.is_bits else DataType.REGISTERS)]
                       for f in _ORDER)
        return SimDevice(id=self.unit, simdata=blocks,  # type: ignore[arg-type]
                         action=partial(_copy_image, self, lock))


async def _copy_image(unit: _Unit, lock: threading.Lock, function_code: int,
                      start_address: int, address: int, count: int,
                      current_registers: list[int],
                      set_values: list[int] | list[bool] | None) -> ExcCodes | None:
    source = unit.image.get(Function(function_code)) if function_code in (1, 2, 3, 4) else None
    if source is None:
        return None
    with lock:
        if unit.busy:
            return ExcCodes.DEVICE_BUSY
        n = min(len(source), len(current_registers))
        current_registers[:n] = source[:n]
    return None


class ModbusSlaveServer:
    """Modbus TCP on ``host:port``; or, with ``serial`` (a serial port's path), Modbus RTU on
    that port at ``baudrate`` (8N1): a line of monitors on RS-485. With ``busy_until_set`` a
    unit answers DEVICE_BUSY (a Modbus exception) until its first ``set_reading``, as a monitor
    still starting up; else it answers zeros until then."""

    def __init__(self, host: str, port: int, units: Mapping[int, RegisterMap], *,
                 serial: str | None = None, baudrate: int = 9600,
                 busy_until_set: bool = False) -> None:
        self.host = host
        self.port = port
        self.serial = serial
        self.baudrate = baudrate
        self._lock = threading.Lock()
        self._units = {unit: _Unit(unit, m, busy_until_set) for unit, m in units.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def units(self) -> list[int]:
        return sorted(self._units)

    def set_reading(self, unit: int, values: Mapping[str, float],
                    flags: Mapping[str, bool] | None = None) -> None:
        """Put metric values (scaled as the map says) and event points (by point name) into the
        unit's registers."""
        entry = self._units[unit]
        register_map, image = entry.register_map, entry.image
        with self._lock:
            entry.busy = False
            for point in register_map.points:
                words = image[point.function]
                if point.metric is not None and point.metric in values:
                    try:
                        new = encode_value(values[point.metric], point, register_map)
                    except (struct.error, OverflowError, ValueError):
                        log.debug("%s=%s does not fit %s", point.metric, values[point.metric],
                                  point.type.value)
                        continue  # as a real monitor's register: it cannot hold the value
                    words[point.address:point.address + len(new)] = new
                elif point.event is not None and flags and point.name in flags:
                    if point.function.is_bits:
                        index, bit = divmod(point.address, 16)
                    else:
                        index, bit = point.address, point.bit or 0
                    mask = 1 << bit
                    words[index] = (words[index] | mask) if flags[point.name] else \
                        (words[index] & ~mask)

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure),
                                        name=f"modbus-sim-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            self.stop()
            raise RuntimeError(f"the Modbus server did not start on {self.host}:{self.port}: "
                               f"{failure[0] if failure else 'timeout'}")

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:
            failure.append(exc)
        finally:
            ready.set()
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        devices = [u.device(self._lock) for u in self._units.values()]
        server: ModbusTcpServer | ModbusSerialServer
        if self.serial is not None:
            server = ModbusSerialServer(devices, port=self.serial, baudrate=self.baudrate)
        else:
            server = ModbusTcpServer(devices, address=(self.host, self.port))
        self._server = server
        await server.serve_forever(background=True)
        sockets = getattr(getattr(server, "transport", None), "sockets", None)
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await server.serving

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is not None and server is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                future = asyncio.run_coroutine_threadsafe(
                    server.shutdown(), loop)  # type: ignore[no-untyped-call]
                try:
                    future.result(timeout=10)
                except Exception:
                    log.exception("stopping the Modbus server")
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._loop = None
        self._server = None
