"""Scenario files: parsing errors with file and line, the shipped scenarios, the scheduler of
random faults, and determinism of the whole simulation for a seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import MIDNIGHT_CST, run, scenario_of

from gongzhi.core.errors import ConfigError
from gongzhi.simulators.outgoing import Message
from gongzhi.simulators.scenario import FaultScheduler, load_scenario
from gongzhi.simulators.signals.daily import local_hour

HOUR = 3_600_000


@pytest.mark.parametrize(("text", "line", "words"), [
    ("faults:\n  - {at: 1m, kind: fier}\n", 2, "unknown fault kind 'fier'"),
    ("faults:\n  - at: 1m\n    kind: fire\n    params: {peak: 3}\n", 4,
     "unknown key 'peak' in the params of fire"),
    ("faults:\n  - at: 1m\n    kind: voltage_sag\n    params:\n      scope: street\n", 5,
     "scope: must be one of device, building"),
    ("faults:\n  - at: soon\n    kind: tamper\n", 2, "at: not a duration"),
    ("faults:\n  - {at: 1m, kind: tamper, when: now}\n", 2, "unknown key 'when'"),
    ("faults:\n  - at: 1m\n    kind: burst_pipe\n    target: {roles: [pump_room]}\n", 4,
     "burst_pipe cannot target pump_room"),
    ("random:\n  every: 30s\n  rate_per_hour: 3\n  kinds: {tamper: 1}\n", 2,
     "exactly one of 'every' and 'rate_per_hour'"),
    ("random:\n  every: 30s\n  kinds:\n    tamper: 1\n    flood: 2\n", 5,
     "unknown fault kind 'flood'"),
    ("random:\n  every: 30s\n  profile: lunch\n  kinds: {tamper: 1}\n", 3,
     "random.profile: unknown value 'lunch'"),
    ("name: x\nfaults: [\n", 3, "not valid YAML"),
    ("name: x\nname: y\n", 2, "duplicate key 'name'"),
    ("- just\n- a list\n", 1, "top level must be a mapping"),
])
def test_scenario_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                            words: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert f"{path}:{line}:" in str(err.value)
    assert words in str(err.value)


def test_a_target_device_missing_from_the_estate_is_named_with_its_line(
        tmp_path: Path) -> None:
    path = tmp_path / "ghost.yaml"
    path.write_text("name: g\nfaults:\n  - {at: 1m, kind: tamper, target: {device: nobody}}\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: target device 'nobody'"):
        run(load_scenario(path), 1000)


@pytest.mark.parametrize("name", ["quiet", "demo", "day", "all-faults", "protocol"])
def test_shipped_scenarios_load(name: str) -> None:
    assert load_scenario(name).name == name


def test_all_faults_covers_every_kind() -> None:
    from gongzhi.simulators.faults import FAULT_KINDS

    kinds = {t.spec.kind for t in load_scenario("all-faults").timed}
    assert kinds == set(FAULT_KINDS)


def _draws(text: str, hours: float, seed: int = 0) -> list[tuple[int, str]]:
    scheduler = FaultScheduler(scenario_of(text), MIDNIGHT_CST, 8.0,
                               np.random.default_rng(seed))
    return [(t, spec.kind) for t, spec in scheduler.due(MIDNIGHT_CST + round(hours * HOUR))]


def test_every_with_jitter_spaces_faults_evenly() -> None:
    draws = _draws("random: {every: 30s, jitter: 0.3, kinds: {tamper: 1}}", 1)
    gaps = np.diff([t for t, _ in draws])
    assert 105 <= len(draws) <= 135
    assert gaps.min() >= 21_000 and gaps.max() <= 39_000


def test_rate_per_hour_is_poisson() -> None:
    draws = _draws("random: {rate_per_hour: 60, kinds: {tamper: 1}}", 10)
    assert 500 <= len(draws) <= 700
    gaps = np.diff([t for t, _ in draws]) / 60_000
    assert gaps.std() == pytest.approx(gaps.mean(), rel=0.2)  # exponential gaps


def test_profiles_choose_the_hours() -> None:
    night = _draws("random: {rate_per_hour: 20, profile: night, kinds: {ebike_charging: 1}}", 48)
    hours = local_hour(np.array([t for t, _ in night]), 8.0)
    at_night = (hours >= 20) | (hours < 2)
    assert at_night.mean() > 0.85
    meals = _draws("random: {rate_per_hour: 20, profile: meals, kinds: {cooking_smoke: 1}}", 48)
    hours = local_hour(np.array([t for t, _ in meals]), 8.0)
    near_meals = ((hours > 6) & (hours < 8)) | ((hours > 10.5) & (hours < 13)) \
        | ((hours > 16.5) & (hours < 20))
    assert near_meals.mean() > 0.85


def test_weights_and_limit() -> None:
    draws = _draws("random: {every: 10s, limit: 300, kinds: {tamper: 3, arc_fault: 1}}", 2)
    assert len(draws) == 300
    share = sum(kind == "tamper" for _, kind in draws) / 300
    assert 0.65 <= share <= 0.85


def test_demo_scenario_injects_the_demo_faults_about_every_half_minute() -> None:
    scheduler = FaultScheduler(load_scenario("demo"), MIDNIGHT_CST, 8.0,
                               np.random.default_rng(0))
    got = scheduler.due(MIDNIGHT_CST + HOUR)
    main = [t for t, spec in got if spec.kind != "cooking_smoke"]
    assert len(got) >= 100 and np.median(np.diff(main)) <= 40_000
    kinds = {spec.kind for _, spec in got}
    assert {"smoke_alarm", "tamper", "pressure_low", "leakage_rising",
            "device_offline_will"} <= kinds


def _fingerprint(messages: list[Message]) -> str:
    # Devices are independent: compare each device's own stream, in order.
    per_topic: dict[str, list[bytes]] = {}
    for m in messages:
        per_topic.setdefault(m.topic, []).append(m.payload)
    return hashlib.sha256(repr(sorted(per_topic.items())).encode()).hexdigest()


def test_same_seed_same_messages_however_time_is_sliced() -> None:
    scenario = load_scenario("all-faults")
    start = MIDNIGHT_CST + 8 * HOUR
    span = HOUR // 2
    whole = run(scenario, span, start_ms=start)
    rng = np.random.default_rng(5)
    slices = sorted(int(x) for x in rng.integers(start, start + span, 300))
    sliced = run(scenario, span, start_ms=start, slices=slices)
    other_seed = run(scenario, span, start_ms=start, seed=1)
    assert len(whole.messages) > 5_000
    assert _fingerprint(whole.messages) == _fingerprint(sliced.messages)
    assert [t.to_dict() for t in whole.truth] == [t.to_dict() for t in sliced.truth]
    assert _fingerprint(whole.messages) != _fingerprint(other_seed.messages)


def test_the_readme_documents_every_fault_kind() -> None:
    from gongzhi.simulators.faults import FAULT_KINDS

    readme = (Path(__file__).resolve().parents[2] / "simulators" / "README.md").read_text()
    for kind in FAULT_KINDS:
        assert f"| `{kind}` |" in readme, kind
