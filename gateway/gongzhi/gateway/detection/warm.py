"""The compiled rules made ready before the stream (``compiled``): a process that will detect
calls ``compile_rules`` at start-up, so the first message it detects on is not held for the
seconds the first compilation takes (afterwards the cached code loads in a fraction of one)."""

from __future__ import annotations

from functools import cache

from gongzhi.devices.catalogue import CATALOGUE, DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.messages import Telemetry

_PLACE = Location("warm-up", "1", "1", "1", "1")


@cache  # once a process
def compile_rules() -> None:
    """Run a throwaway engine with one device of every type (and a landing's box) over a few
    reports of every metric (each within the metric's range; a step on the household's
    circuit): every compiled function is compiled or loaded, with the types the engine gives
    it."""
    # (A riser's gauge on its riser: the drift rule reads it.)
    records = [DeviceRecord(device_id=f"warm-up-{t.value}", type=t, location=_PLACE,
                            household="warm-up", position="household",
                            riser="warm-up" if t is DeviceType.WATER_PRESSURE else None)
               for t in CATALOGUE]
    # A landing's box beside the household: the corridor's own load is another path.
    records.append(DeviceRecord(device_id="warm-up-box", type=DeviceType.ELECTRICAL,
                                location=_PLACE, position="corridor"))
    engine = DetectionEngine(Registry(records))
    messages = []
    for minute, share in enumerate((0.1, 0.1, 0.3, 0.3)):
        ts = minute * 60_000
        messages += [Telemetry(r.device_id, _PLACE.estate_id, r.type, ts,
                               {name: m.low + share * (m.high - m.low)
                                for name, m in CATALOGUE[r.type].metrics.items()}, ts)
                     for r in records]
    engine.process(messages)
