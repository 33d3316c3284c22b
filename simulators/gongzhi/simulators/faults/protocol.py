"""Protocol faults: what a careless device or forwarder sends. None should open a ticket; the
ground truth says what the gateway should do with the messages (reject them with a reason,
drop them as duplicates, accept them, or clamp a clock)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from gongzhi.core.alarms import AlarmKind
from gongzhi.simulators.faults.base import ALL_ROLES, Fault, Param, Sim, params_table
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.outgoing import NO_DEVICE, Message, Outgoing

_MINUTE = 60_000
# The gateway's clock-skew rule (docs/contract.md: "timestamp too far in the future").
MAX_FUTURE_SKEW_MS = 5 * _MINUTE

# Garbage variants and the gateway's rejection reason for each.
GARBAGE_REASONS = {
    "not_json": "not_json",
    "wrong_type": "bad_value",
    "nan": "non_finite",
    "unknown_device": "unknown_device",
    "huge": "payload_too_large",
    "out_of_range": "out_of_range",
    "unknown_metric": "unknown_metric",
    "bad_shape": "bad_shape",
}
HUGE_BYTES = 1_000_000


class ProtocolFault(Fault):
    roles = ALL_ROLES
    duration_ms = 0


class Garbage(ProtocolFault):
    kind = "garbage"
    summary = ("payloads that cannot be used: not JSON, wrong types, NaN, an unknown device, "
               "1 MB, out of range, unknown metric, wrong shape")
    params = params_table({
        "variant": Param(None, "which (default: random)", tuple(GARBAGE_REASONS)),
    })
    outcome = "rejected"

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return str(rng.choice(list(GARBAGE_REASONS)))

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        record = sim.record(self.target)
        topic = sim.telemetry_topic(self.target)
        metric = _first_metric(record.type.value)
        variant = self.p["variant"]
        device = self.target
        payload: bytes
        if variant == "not_json":
            payload = b"\x00\xffPRESSURE=0.31;;" + str(t_ms).encode()
        elif variant == "wrong_type":
            payload = orjson.dumps({"ts": t_ms, "values": {metric: "high"}})
        elif variant == "nan":
            payload = b'{"ts": %d, "values": {"%s": NaN}}' % (t_ms, metric.encode())
        elif variant == "unknown_device":
            topic = f"estate/{record.estate_id}/{record.device_id[:40]}-GHOST/telemetry"
            payload = orjson.dumps({"ts": t_ms, "values": {metric: 1.0}})
            device = NO_DEVICE
        elif variant == "huge":
            payload = orjson.dumps({"ts": t_ms, "values": {metric: 1.0},
                                    "pad": "x" * HUGE_BYTES})
        elif variant == "out_of_range":
            payload = orjson.dumps({"ts": t_ms, "values": {metric: 1e7}})
        elif variant == "unknown_metric":
            payload = orjson.dumps({"ts": t_ms, "values": {"flux_capacitor": 1.21}})
        else:  # bad_shape
            payload = orjson.dumps({"ts": t_ms, "values": {metric: 1.0}, "unit": "bar"})
        return [Message(device, topic, payload, 1)]

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(self.target), None, outcome=self.outcome,
                                reason=GARBAGE_REASONS[str(self.p["variant"])])]


def _first_metric(device_type: str) -> str:
    return {"smoke": "smoke_db_m", "water_pressure": "pressure_mpa",
            "electrical": "residual_ma"}[device_type]


class Intercepting(ProtocolFault):
    """Acts on the device's next telemetry message(s) within a window."""

    intercepts = True
    duration_ms = 3 * _MINUTE


class Duplicate(Intercepting):
    kind = "duplicate"
    summary = "the device's next telemetry message arrives twice (same seq)"
    outcome = "dropped"
    _done = False

    def on_telemetry(self, sim: Sim, message: Message, ts_ms: int) -> list[Message]:
        if self._done:
            return [message]
        self._done = True
        return [message, message]

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(self.target), None, outcome=self.outcome,
                                reason="duplicate")]


class Replay(Intercepting):
    kind = "replay"
    summary = "the device's next telemetry message is sent again later (a replay: same seq)"
    params = params_table({"delay_s": Param(600.0, "seconds until the replay")})
    outcome = "dropped"
    duration_ms = 20 * _MINUTE
    _done = False

    def on_telemetry(self, sim: Sim, message: Message, ts_ms: int) -> list[Message]:
        if not self._done:
            self._done = True
            sim.schedule(ts_ms + round(self.p["delay_s"] * 1000), message)
        return [message]

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(self.target), None, outcome=self.outcome,
                                reason="duplicate")]


class OutOfOrder(Intercepting):
    kind = "out_of_order"
    summary = "two of the device's telemetry messages arrive in reverse order"
    outcome = "accepted"
    _held: Message | None = None
    _done = False

    def on_telemetry(self, sim: Sim, message: Message, ts_ms: int) -> list[Message]:
        if self._done:
            return [message]
        if self._held is None:
            self._held = message
            return []
        self._done = True
        return [message, self._held]

    def end(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        # Never lose a held message, even if no second one came within the window.
        return [self._held] if self._held is not None and not self._done else []


class ClockSkew(ProtocolFault):
    kind = "clock_skew"
    summary = ("the device's clock runs minutes off: its timestamps are shifted (ahead beyond "
               "5 min: rejected; ahead less: clamped; behind: kept)")
    duration_ms = 15 * _MINUTE
    params = params_table({
        "skew_s": Param(None, "seconds the clock is off, + ahead (default: random among "
                              "-900, -300, 120, 480)"),
    })

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.choice([-900.0, -300.0, 120.0, 480.0]))

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.set_clock_skew(self.target, round(self.p["skew_s"] * 1000))
        return []

    def end(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.set_clock_skew(self.target, 0)
        return []

    def truth(self, sim: Sim) -> list[TruthRecord]:
        # What the gateway sees is the device's time against its receive time: a simulated
        # clock running behind the real one (a fast run started in the past) hides a skew.
        ahead_ms = self.start_ms + round(self.p["skew_s"] * 1000) - sim.wall_clock.now_ms()
        outcome: tuple[str, str | None]
        if ahead_ms > MAX_FUTURE_SKEW_MS:
            outcome = ("rejected", "future_timestamp")
        elif ahead_ms > 0:
            outcome = ("clock_corrected", None)
        else:
            outcome = ("accepted", None)
        detail: dict[str, Any] = {"ahead_of_receive_ms": ahead_ms}
        # Every report refused: to the gateway the device falls silent.
        also = (AlarmKind.DEVICE_OFFLINE,) if outcome[0] == "rejected" else ()
        return [self.truth_line(sim, sim.record(self.target), None, outcome=outcome[0],
                                reason=outcome[1], also=also, **detail)]
