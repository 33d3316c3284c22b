"""Running a simulation against a broker: pacing simulated time against the wall clock,
writing the ground truth, showing progress and summing up.

The simulated clock runs at ``speed`` times the wall clock and never ahead of the present when
it started in the past or now (the gateway refuses timestamps from the future): a run at
``--speed 1440 --duration 1d`` starts a day ago and ends about now.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from gongzhi.core.clock import Clock, SystemClock
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import MqttTarget
from gongzhi.core.stopping import StopFlag
from gongzhi.devices.registry import write_registry
from gongzhi.simulators.engine import TICK_MS, SimulationEngine
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.groundtruth import GroundTruthWriter
from gongzhi.simulators.layout import EstateLayout, build_layout
from gongzhi.simulators.outgoing import Message
from gongzhi.simulators.protocols import Route, load_encoder, with_external_ids
from gongzhi.simulators.publisher import (
    MULTIPLEXED,
    PER_DEVICE,
    DeviceEndpoint,
    MqttPublisher,
    PublisherConfig,
)
from gongzhi.simulators.scenario import load_scenario

PER_DEVICE_LIMIT = 256  # "auto" uses one connection per device up to this many devices
# How much to simulate between two looks at the network and the stop flag: about this many
# messages (a second or so of publishing), within these bounds of simulated time.
STEP_MESSAGES = 5_000
MIN_STEP_MS, MAX_STEP_MS = 1_000, 600_000
PROGRESS_TTY_S, PROGRESS_LOG_S = 0.5, 10.0
STOP_FLUSH_S = 5.0  # how long a run asked to stop waits for its messages to be acknowledged


@dataclass(frozen=True, slots=True)
class RunOptions:
    estate: str | Path = "demo"
    scenario: str | Path = "demo"
    speed: float = 1.0  # math.inf: as fast as the broker takes it
    duration_ms: int | None = None  # simulated
    start_ms: int | None = None
    seed: int = 0
    ground_truth: Path | None = None
    registry_out: Path | None = None
    protocol: str = "native"  # how the devices reach the gateway (simulators.protocols)
    route: Route = field(default_factory=Route)  # where a protocol off the broker delivers
    mode: str = "auto"
    connections: int = 4
    telemetry_qos: int = 1
    progress: bool = True
    wall_limit_s: float | None = None  # stop after this much real time of publishing


@dataclass
class RunSummary:
    devices: int
    mode: str
    connections: int
    sim_start_ms: int
    sim_end_ms: int
    wall_s: float
    published: int
    by_channel: dict[str, int]
    faults: Counter[str]
    skipped: Counter[str]
    truth_lines: int
    waits: int
    wills: int
    reconnects: int
    flushed: bool
    utc_offset_h: float = 0.0
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.published / self.wall_s if self.wall_s > 0 else 0.0

    def render(self) -> str:
        span_s = (self.sim_end_ms - self.sim_start_ms) / 1000
        lines = [
            f"simulated {self.devices:,} devices ({self.mode}, {self.connections:,} "
            f"connection(s)) from {_fmt_ms(self.sim_start_ms, self.utc_offset_h)} to "
            f"{_fmt_ms(self.sim_end_ms, self.utc_offset_h)}",
            f"{_fmt_span(span_s)} simulated in {self.wall_s:.1f} s "
            f"(x{span_s / max(self.wall_s, 1e-9):,.1f})",
            f"published {self.published:,} messages ({self.rate:,.0f}/s): "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_channel.items())),
            f"faults injected {sum(self.faults.values())}: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"),
            f"ground truth lines {self.truth_lines}; back-pressure waits {self.waits:,}; "
            f"last wills {self.wills}; reconnects {self.reconnects}",
        ]
        if self.skipped:
            lines.append("skipped for want of a free device: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())))
        if not self.flushed:
            lines.append("WARNING: not every message was acknowledged by the broker at the end")
        lines += self.notes
        return "\n".join(lines)


def parse_start(text: str) -> int:
    """Epoch milliseconds or ISO-8601 with an offset."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ConfigError(f"--start: not ISO-8601 or epoch ms: {text!r}") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--start needs an offset (e.g. +08:00 or Z): {text!r}")
    return int(moment.timestamp() * 1000)


def plan_start(now_ms: int, speed: float, duration_ms: int | None,
               start_ms: int | None) -> int:
    """Where the simulated clock starts: given, or far enough back that a fast run does not
    reach the future, on a whole tick."""
    if start_ms is None:
        start_ms = now_ms - duration_ms if speed > 1 and duration_ms else now_ms
    return start_ms - start_ms % TICK_MS


def choose_mode(mode: str, devices: int) -> str:
    if mode == "auto":
        return PER_DEVICE if devices <= PER_DEVICE_LIMIT else MULTIPLEXED
    return mode


def run_simulation(options: RunOptions, target: MqttTarget, *, wall: Clock | None = None,
                   stop: StopFlag | None = None,
                   journal: list[Message] | None = None,
                   stream: TextIO | None = None) -> RunSummary:
    """Run until the duration is simulated or ``stop`` is set (or Ctrl-C)."""
    wall = wall or SystemClock()
    stop = stop or threading.Event()
    stream = stream or sys.stderr
    layout = build_layout(load_estate_file(options.estate), options.seed)
    scenario = load_scenario(options.scenario)
    encoder = load_encoder(options.protocol, [d.record for d in layout.devices], options.seed,
                           options.route)
    if options.registry_out is not None:
        write_registry(options.registry_out,
                       with_external_ids(encoder, (d.record for d in layout.devices)))
    start = plan_start(wall.now_ms(), options.speed, options.duration_ms, options.start_ms)
    engine = SimulationEngine(layout, scenario, start, options.seed, wall,
                              options.telemetry_qos)
    mode = encoder.mqtt_mode or choose_mode(options.mode, len(layout.devices))
    publisher = MqttPublisher(
        PublisherConfig(target=target, mode=mode, connections=options.connections),
        _endpoints(layout), journal.append if journal is not None else None)
    truth = GroundTruthWriter(options.ground_truth) if options.ground_truth else None
    utc_offset_h = layout.estates[0].utc_offset_h
    progress = _Progress(stream, options.progress, engine, publisher, utc_offset_h)
    end_ms = start + options.duration_ms if options.duration_ms else None
    # Never outrun the present, unless the caller asked for a start in the future.
    clamp_to_now = start <= wall.now_ms()
    step_ms = MIN_STEP_MS
    wall0 = time.monotonic()
    stopped_early = False
    with contextlib.ExitStack() as stack:
        if truth is not None:
            stack.enter_context(truth)
        stack.enter_context(publisher)
        encoder.open()
        stack.callback(encoder.close)
        wall0 = time.monotonic()
        try:
            while not stop.is_set():
                if end_ms is not None and engine.t_ms >= end_ms:
                    break
                if options.wall_limit_s is not None and \
                        time.monotonic() - wall0 >= options.wall_limit_s:
                    break
                goal = _goal(engine.t_ms, start, wall0, options.speed, step_ms)
                if clamp_to_now:
                    goal = min(goal, wall.now_ms())
                if end_ms is not None:
                    goal = min(goal, end_ms)
                if goal > engine.t_ms:
                    before = engine.t_ms
                    batch = engine.advance(min(goal, engine.t_ms + step_ms))
                    step_ms = _next_step(step_ms, len(batch), engine.t_ms - before)
                    publisher.send(encoder.encode(batch))
                    if truth is not None:
                        truth.write(engine.take_truth())
                    publisher.pump(0)
                else:
                    publisher.pump(_wait_s(options.speed))
                progress.tick()
            stopped_early = stop.is_set()
        except KeyboardInterrupt:
            stopped_early = True
        publisher.send(encoder.encode(engine.finish()))
        # Asked to stop (SIGTERM, Ctrl-C): a few seconds to hand over what is queued, not the
        # half minute a finished run waits for a broker that may be gone.
        flushed = publisher.flush(STOP_FLUSH_S if stopped_early else 30.0)
        progress.done()
        stats = publisher.stats
        summary = RunSummary(
            devices=len(layout.devices), mode=mode, connections=publisher.connection_count,
            sim_start_ms=start, sim_end_ms=engine.t_ms, wall_s=time.monotonic() - wall0,
            published=stats.published, by_channel=dict(stats.by_channel),
            faults=engine.faults_injected, skipped=engine.faults_skipped,
            truth_lines=truth.count if truth else 0, waits=stats.waits, wills=stats.wills,
            reconnects=stats.reconnects, flushed=flushed, utc_offset_h=utc_offset_h,
            stopped_early=stopped_early)
    return summary


def _endpoints(layout: EstateLayout) -> list[DeviceEndpoint]:
    return [DeviceEndpoint(d.record.device_id, d.record.estate_id) for d in layout.devices]


def _goal(now_sim: int, start: int, wall0: float, speed: float, step_ms: int) -> int:
    if math.isinf(speed):
        return now_sim + step_ms
    return start + int((time.monotonic() - wall0) * 1000 * speed)


def _next_step(step_ms: int, messages: int, advanced_ms: int) -> int:
    """A step that carries about STEP_MESSAGES at the rate just seen."""
    if advanced_ms <= 0:
        return step_ms
    per_ms = messages / advanced_ms
    wanted = STEP_MESSAGES / per_ms if per_ms > 0 else MAX_STEP_MS
    return int(min(max(wanted, MIN_STEP_MS), MAX_STEP_MS))


def _wait_s(speed: float) -> float:
    # Until the next simulated tick is due (bounded, so the network stays serviced).
    return 0.0 if math.isinf(speed) else min(0.1, TICK_MS / 1000 / speed)


class _Progress:
    """One live line on a terminal; a line every 10 s in a log."""

    def __init__(self, stream: TextIO, enabled: bool, engine: SimulationEngine,
                 publisher: MqttPublisher, utc_offset_h: float) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.engine = engine
        self.publisher = publisher
        self.utc_offset_h = utc_offset_h
        self.started = time.monotonic()
        self.last = self.started
        self.last_count = 0
        self.last_sim = engine.t_ms

    def tick(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        every = PROGRESS_TTY_S if self.tty else PROGRESS_LOG_S
        if now - self.last < every:
            return
        published = self.publisher.stats.published
        rate = (published - self.last_count) / (now - self.last)
        # The speed reached: below the one asked for when the broker cannot take more.
        speed = (self.engine.t_ms - self.last_sim) / 1000 / (now - self.last)
        self.last, self.last_count, self.last_sim = now, published, self.engine.t_ms
        faults = sum(self.engine.faults_injected.values())
        line = (f"sim {_fmt_ms(self.engine.t_ms, self.utc_offset_h)} (x{speed:,.1f})  "
                f"sent {published:,} msgs  {rate:,.0f}/s  "
                f"faults {faults} ({self.engine.active_faults} active)  "
                f"waits {self.publisher.stats.waits:,}")
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _fmt_ms(ms: int, utc_offset_h: float = 0.0) -> str:
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone).isoformat(
        timespec="seconds")


def _fmt_span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.2f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds:.0f} s"
