"""Scenarios: which faults to inject, at set times or at random rates (YAML).

```yaml
name: example
faults:                      # at set times after the start (simulated time)
  - at: 2m
    kind: smoke_alarm
    duration: 90s            # default: the kind's own
    target: {elderly_alone: true}     # device, building, estate, roles, elderly_alone
    params: {level_db_m: 0.8}
random:                      # faults drawn as the run goes
  - every: 30s               # or rate_per_hour: 4 (Poisson)
    jitter: 0.3              # gaps uniform in every × (1 ± jitter)
    start: 20s               # the first one (default: one gap in)
    profile: flat            # flat, meals, night or day: when in the local day they happen
    limit: 20                # at most this many (default: no limit)
    kinds: {smoke_alarm: 3, tamper: {weight: 2, params: {}}}
```
Durations use the config kit's one syntax (``90s``, ``2m``, ``1h30m``, ``250ms``, or seconds).
Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, Field, model_validator

from gongzhi.core.config_kit import (
    STRICT_CONFIG,
    ConfigValueError,
    Document,
    Duration,
    PositiveDuration,
    read_yaml,
    to_ms,
    validate,
)
from gongzhi.simulators.estate import Role, resolve_named_file
from gongzhi.simulators.faults import FAULT_KINDS
from gongzhi.simulators.signals.daily import cooking_rate, local_hour

SHIPPED_SCENARIOS = Path(__file__).with_name("scenarios")
PROFILES = ("flat", "meals", "night", "day")


@dataclass(frozen=True, slots=True)
class Target:
    device: str | None = None
    building: str | None = None
    estate: str | None = None
    roles: tuple[Role, ...] | None = None
    elderly_alone: bool | None = None


@dataclass(frozen=True, slots=True)
class FaultSpec:
    kind: str
    duration_ms: int | None = None
    params: Mapping[str, float | str] = field(default_factory=dict)
    target: Target = field(default_factory=Target)
    where: str = ""


@dataclass(frozen=True, slots=True)
class TimedFault:
    at_ms: int
    spec: FaultSpec


@dataclass(frozen=True, slots=True)
class RandomFaults:
    choices: tuple[tuple[float, FaultSpec], ...]
    every_ms: int | None = None
    rate_per_hour: float | None = None
    jitter: float = 0.3
    start_ms: int = 0
    profile: str = "flat"
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    timed: tuple[TimedFault, ...] = ()
    random: tuple[RandomFaults, ...] = ()


def resolve_scenario(scenario: str | Path) -> Path:
    return resolve_named_file(scenario, SHIPPED_SCENARIOS, "scenario")


def load_scenario(scenario: str | Path) -> Scenario:
    path = resolve_scenario(scenario)
    return parse_scenario(read_yaml(path), path.stem)


# --- the file's shape -------------------------------------------------------------------------


def _fault_kind(value: Any) -> str:
    if value not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    return str(value)


FaultKind = Annotated[str, BeforeValidator(_fault_kind)]
Number = Annotated[float, Field(strict=True)]


class _Target(BaseModel):
    model_config = STRICT_CONFIG

    device: str | None = None
    building: str | None = None
    estate: str | None = None
    roles: tuple[Role, ...] | None = None
    elderly_alone: Annotated[bool | None, Field(strict=True)] = None

    def target(self) -> Target:
        return Target(self.device, self.building, self.estate, self.roles, self.elderly_alone)


class _FaultBody(BaseModel):
    """How a fault of a kind named elsewhere is shaped: how long, where, with what."""

    model_config = STRICT_CONFIG

    duration: Duration | None = None
    target: _Target | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    def spec(self, kind: str, where: str) -> FaultSpec:
        """The fault; ConfigValueError (relative to this mapping) if the kind refuses it."""
        cls = FAULT_KINDS[kind]
        params: dict[str, float | str] = {}
        for key, value in self.params.items():
            if key not in cls.params:
                raise ConfigValueError(f"unknown key {key!r} in the params of {kind}; known: "
                                       f"{', '.join(sorted(cls.params))}", "params", key)
            try:
                params[key] = cls.params[key].check(value)
            except ValueError as exc:
                raise ConfigValueError(f"{key}: {exc}", "params", key) from None
        target = self.target.target() if self.target is not None else Target()
        if wrong := [r.value for r in target.roles or () if r not in cls.roles]:
            raise ConfigValueError(f"{kind} cannot target {', '.join(wrong)}; it targets "
                                   f"{', '.join(r.value for r in cls.roles)}", "target")
        duration = None if self.duration is None else to_ms(self.duration)
        return FaultSpec(kind=kind, duration_ms=duration, params=params, target=target,
                         where=where)


class _Fault(_FaultBody):
    at: Duration
    kind: FaultKind

    @model_validator(mode="after")
    def _kind_accepts(self) -> _Fault:
        self.spec(self.kind, "")
        return self


class _Choice(_FaultBody):
    weight: Annotated[Number, Field(ge=0.0, le=1e6)] = 1.0


def _choice(value: Any) -> Any:
    """A weight alone stands for ``{weight: N}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"weight": value}
    if not isinstance(value, dict):
        raise ValueError("give a weight (a number) or a mapping with weight, duration, target, "
                         "params")
    return value


class _Random(BaseModel):
    model_config = STRICT_CONFIG

    every: PositiveDuration | None = None
    rate_per_hour: Annotated[Number, Field(ge=1e-6, le=1e6)] | None = None
    jitter: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.3
    start: Duration = 0.0
    profile: Literal["flat", "meals", "night", "day"] = "flat"
    kinds: dict[FaultKind, Annotated[_Choice, BeforeValidator(_choice)]]
    limit: Annotated[int, Field(strict=True, ge=0, le=10**9)] | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> _Random:
        if (self.every is None) == (self.rate_per_hour is None):
            raise ValueError("random faults need exactly one of 'every' and 'rate_per_hour'")
        if sum(c.weight for c in self.kinds.values()) <= 0:
            raise ConfigValueError("random faults need at least one kind with a weight above 0",
                                   "kinds")
        for kind, choice in self.kinds.items():
            try:
                choice.spec(kind, "")
            except ConfigValueError as exc:
                raise ConfigValueError(str(exc), "kinds", kind, *exc.path) from None
        return self


def _listed(value: Any) -> Any:
    """One block of random faults may stand for a list of one."""
    return [value] if isinstance(value, dict) else value


class _Scenario(BaseModel):
    model_config = STRICT_CONFIG

    name: str | None = None
    description: str = ""
    faults: tuple[_Fault, ...] = ()
    random: Annotated[tuple[_Random, ...], BeforeValidator(_listed)] = ()


def parse_scenario(document: Document, name: str) -> Scenario:
    written = validate(document, _Scenario)
    timed = [TimedFault(to_ms(f.at), f.spec(f.kind, document.where(("faults", i))))
             for i, f in enumerate(written.faults)]
    blocks = [
        RandomFaults(
            choices=tuple((c.weight, c.spec(kind, document.where(("random", i, "kinds", kind))))
                          for kind, c in block.kinds.items()),
            every_ms=None if block.every is None else to_ms(block.every),
            rate_per_hour=block.rate_per_hour, jitter=block.jitter, start_ms=to_ms(block.start),
            profile=block.profile, limit=block.limit)
        for i, block in enumerate(written.random)
    ]
    return Scenario(name=written.name or name, description=written.description,
                    timed=tuple(sorted(timed, key=lambda t: t.at_ms)), random=tuple(blocks))


def profile_weight(profile: str, hour: float) -> float:
    """How likely (0-1) a random fault of this profile is at a local hour."""
    if profile == "meals":
        return float(cooking_rate(np.array([hour]))[0] / 1.3)
    if profile == "night":
        return 1.0 if hour >= 20.0 or hour < 2.0 else 0.05
    if profile == "day":
        return 1.0 if 8.0 <= hour < 20.0 else 0.2
    return 1.0


class FaultScheduler:
    """Yields the scenario's faults in time order as the simulated clock advances. Pure: the
    random draws come from the injected generator."""

    def __init__(self, scenario: Scenario, start_ms: int, utc_offset_h: float,
                 rng: np.random.Generator) -> None:
        self._timed = sorted(((start_ms + t.at_ms, t.spec) for t in scenario.timed),
                             key=lambda item: item[0])
        self._blocks = list(scenario.random)
        self._utc_offset_h = utc_offset_h
        self._rng = rng
        # The first fault of a block comes at its ``start`` when one is given (a demo should
        # not keep its audience waiting), else one gap into the run.
        self._next = [start_ms + (b.start_ms if b.start_ms else self._gap(b))
                      for b in self._blocks]
        self._counts = [0] * len(self._blocks)

    def _gap(self, block: RandomFaults) -> int:
        if block.every_ms is not None:
            return round(block.every_ms * self._rng.uniform(1 - block.jitter, 1 + block.jitter))
        assert block.rate_per_hour is not None
        return max(1, round(self._rng.exponential(3_600_000 / block.rate_per_hour)))

    def peek(self) -> int | None:
        """The next time something may be due (a random candidate may still be thinned)."""
        times = [t for t, _ in self._timed[:1]]
        times += [t for t, b, c in zip(self._next, self._blocks, self._counts, strict=True)
                  if b.limit is None or c < b.limit]
        return min(times) if times else None

    def due(self, to_ms: int) -> list[tuple[int, FaultSpec]]:
        out = [(t, s) for t, s in self._timed if t <= to_ms]
        self._timed = [(t, s) for t, s in self._timed if t > to_ms]
        for i, block in enumerate(self._blocks):
            while self._next[i] <= to_ms and (block.limit is None
                                              or self._counts[i] < block.limit):
                at = self._next[i]
                self._next[i] = at + self._gap(block)
                hour = float(local_hour(at, self._utc_offset_h))
                if self._rng.random() >= profile_weight(block.profile, hour):
                    continue
                weights = np.array([w for w, _ in block.choices])
                pick = int(self._rng.choice(len(weights), p=weights / weights.sum()))
                out.append((at, block.choices[pick][1]))
                self._counts[i] += 1
        out.sort(key=lambda item: item[0])
        return out
