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
    kinds: {smoke_alarm: 3, tamper: {weight: 2, params: {}}}
```
Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gongzhi.simulators.estate import Role, resolve_named_file
from gongzhi.simulators.faults import FAULT_KINDS
from gongzhi.simulators.signals.daily import cooking_rate, local_hour
from gongzhi.simulators.yamlfile import (
    MarkedList,
    MarkedMap,
    as_duration_ms,
    as_float,
    as_int,
    as_list,
    as_map,
    check_keys,
    load_yaml,
    need,
)

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
    return parse_scenario(load_yaml(path), path.stem)


def parse_scenario(doc: MarkedMap, name: str) -> Scenario:
    check_keys(doc, {"name", "description", "faults", "random"}, "a scenario")
    timed: list[TimedFault] = []
    if "faults" in doc:
        items = as_list(doc["faults"], doc.where("faults"), "faults")
        for i, item in enumerate(items):
            node = as_map(item, items.where(i), "a fault")
            check_keys(node, {"at", "kind", "duration", "target", "params"}, "a fault")
            timed.append(TimedFault(as_duration_ms(node, "at"), _fault_spec(node)))
    blocks: list[RandomFaults] = []
    if "random" in doc:
        raw = doc["random"]
        entries: list[Any]
        if isinstance(raw, MarkedMap):
            entries = [raw]
        else:
            entries = list(as_list(raw, doc.where("random"), "random"))
        for entry in entries:
            blocks.append(_random_block(as_map(entry, doc.where("random"), "random faults")))
    return Scenario(name=str(doc.get("name", name)), description=str(doc.get("description", "")),
                    timed=tuple(sorted(timed, key=lambda t: t.at_ms)), random=tuple(blocks))


def _fault_spec(node: MarkedMap, kind: str | None = None) -> FaultSpec:
    kind = kind or need(node, "kind", "a fault")
    if kind not in FAULT_KINDS:
        raise node.fail(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}",
                        "kind" if "kind" in node else None)
    cls = FAULT_KINDS[kind]
    params: dict[str, float | str] = {}
    if "params" in node:
        raw = as_map(node["params"], node.where("params"), "params")
        check_keys(raw, set(cls.params), f"the params of {kind}")
        for key, value in raw.items():
            try:
                params[key] = cls.params[key].check(value)
            except ValueError as exc:
                raise raw.fail(f"{key}: {exc}", key) from None
    duration = as_duration_ms(node, "duration") if "duration" in node else None
    target = _target(node) if "target" in node else Target()
    if target.roles is not None:
        wrong = [r.value for r in target.roles if r not in cls.roles]
        if wrong:
            raise node.fail(f"{kind} cannot target {', '.join(wrong)}; it targets "
                            f"{', '.join(r.value for r in cls.roles)}", "target")
    return FaultSpec(kind=kind, duration_ms=duration, params=params, target=target,
                     where=node.where())


def _target(node: MarkedMap) -> Target:
    raw = as_map(node["target"], node.where("target"), "target")
    check_keys(raw, {"device", "building", "estate", "roles", "elderly_alone"}, "a target")
    roles = None
    if "roles" in raw:
        items = raw["roles"]
        if not isinstance(items, MarkedList):
            raise raw.fail("roles must be a list", "roles")
        try:
            roles = tuple(Role(r) for r in items)
        except ValueError:
            raise raw.fail(f"roles must be among {', '.join(r.value for r in Role)}",
                           "roles") from None
    elderly = raw.get("elderly_alone")
    if elderly is not None and not isinstance(elderly, bool):
        raise raw.fail("elderly_alone must be true or false", "elderly_alone")
    return Target(
        device=_text(raw, "device"), building=_text(raw, "building"),
        estate=_text(raw, "estate"), roles=roles, elderly_alone=elderly,
    )


def _text(node: MarkedMap, key: str) -> str | None:
    value = node.get(key)
    return None if value is None else str(value)


def _random_block(node: MarkedMap) -> RandomFaults:
    check_keys(node, {"every", "rate_per_hour", "jitter", "start", "profile", "kinds", "limit"},
               "random faults")
    if ("every" in node) == ("rate_per_hour" in node):
        raise node.fail("random faults need exactly one of 'every' and 'rate_per_hour'")
    profile = str(node.get("profile", "flat"))
    if profile not in PROFILES:
        raise node.fail(f"profile must be one of {', '.join(PROFILES)}", "profile")
    kinds = as_map(need(node, "kinds", "random faults"), node.where("kinds"), "kinds")
    choices: list[tuple[float, FaultSpec]] = []
    for kind, value in kinds.items():
        if kind not in FAULT_KINDS:
            raise kinds.fail(f"unknown fault kind {kind!r}; known: "
                             f"{', '.join(sorted(FAULT_KINDS))}", kind)
        if isinstance(value, MarkedMap):
            check_keys(value, {"weight", "duration", "target", "params"}, f"random {kind}")
            weight = as_float(value, "weight", 1.0, low=0.0, high=1e6)
            choices.append((weight, _fault_spec(value, kind)))
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            spec = FaultSpec(kind=kind, where=kinds.where(kind))
            choices.append((float(value), spec))
        else:
            raise kinds.fail(f"{kind}: give a weight (a number) or a mapping with weight, "
                             "duration, target, params", kind)
    if not choices or sum(w for w, _ in choices) <= 0:
        raise node.fail("random faults need at least one kind with a weight above 0", "kinds")
    every = as_duration_ms(node, "every") if "every" in node else None
    if every is not None and every <= 0:
        raise node.fail("every must be above 0", "every")
    return RandomFaults(
        choices=tuple(choices),
        every_ms=every,
        rate_per_hour=as_float(node, "rate_per_hour", low=1e-6, high=1e6)
        if "rate_per_hour" in node else None,
        jitter=as_float(node, "jitter", 0.3, low=0.0, high=1.0),
        start_ms=as_duration_ms(node, "start", 0),
        profile=profile,
        limit=as_int(node, "limit", high=10**9) if "limit" in node else None,
    )


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
