"""Passive care on real homes (a slice of ../shared/data/household-power; the full figure is
bench/bench_welfare.py): each house as an elderly person's home, its false alarms counted per
household-month with the days that caused them; development and held-out months apart; the
whole engine gives the welfare rule's own alarms."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.evaluation.household import default_data_dir
from gongzhi.evaluation.welfare_real import SPLITS, run_house_direct, score
from gongzhi.evaluation.welfare_sim import (
    START_MS,
    household_records,
    household_series,
    watch_alarms,
    welfare_alarms,
)
from gongzhi.gateway.backtest import batches
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.rhythm import RhythmSettings
from gongzhi.simulators.living import (
    DAY_MS,
    DEVELOPMENT_SEEDS,
    HOUR_MS,
    Fault,
    Living,
    simulate,
)

DATA = default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "household-power").is_dir(),
                                reason=f"{DATA} has no household-power")


def test_development_and_held_out_months_are_apart() -> None:
    for house in {h for splits in SPLITS.values() for h, _, _ in splits}:
        [(_, d0, d1)] = [s for s in SPLITS["development"] if s[0] == house]
        [(_, r0, r1)] = [s for s in SPLITS["report"] if s[0] == house]
        assert d0 <= d1 < r0 <= r1


@needs_data
def test_a_real_home_over_its_first_months() -> None:
    """UK-DALE house 2, May-June 2013 (development months): the model arms after three weeks
    and raises no welfare check on a home where nobody fell."""
    alarms = run_house_direct(DATA, "UKDALE_House2", last_month="2013-06")
    result = score("development", {"UKDALE_House2": alarms}, DATA,
                   {"UKDALE_House2": "2013-06"})
    assert 1.0 < result.household_months < 2.0
    assert [f.to_dict() for f in result.false_alarms] == []
    assert result.per_household_quarter == 0.0


@needs_data
def test_false_alarms_are_listed_with_their_days() -> None:
    """A model allowed no margin on the same months raises on the days a real morning came
    later than any before it: each is named by its day and what the model expected."""
    strict = RhythmSettings(first_margin_min=0.0, gap_margin_min=0.0)
    alarms = run_house_direct(DATA, "UKDALE_House2", strict, last_month="2013-06")
    result = score("development", {"UKDALE_House2": alarms}, DATA,
                   {"UKDALE_House2": "2013-06"})
    assert result.false_alarms
    for found in result.false_alarms:
        assert found.house == "UKDALE_House2" and found.day.startswith("2013-0")
        assert found.raised_at >= found.expected_by
    assert result.per_household_month == len(result.false_alarms) / result.household_months


@pytest.mark.parametrize("batch_rows", [None, 64])
def test_the_whole_engine_raises_what_the_welfare_rule_raises(
        monkeypatch: pytest.MonkeyPatch, batch_rows: int | None) -> None:
    """The engine through the replay (in one batch, or in many: a household's meters must then
    reach the rule in time order across batches) against the rule alone."""
    if batch_rows is not None:
        monkeypatch.setattr(batches, "MAX_ROWS", batch_rows)
    seed = DEVELOPMENT_SEEDS[0]
    fall = START_MS + 4 * DAY_MS + 9 * HOUR_MS
    # 09:00 is in this person's outing: everything off, raised the next morning (day 5)
    living = simulate(seed, START_MS, 6, faults=(Fault("no_activity", fall),))
    every = slice(None, None, 5)  # a report every 5 min keeps the engine's run short
    living = Living(living.ts[every], living.power_w[every], living.voltage_v[every],
                    living.water_ts, living.water_m3)
    records = [replace(r, settings={"report_interval_s": 300.0} if r.device_id.endswith("em")
                       else r.settings) for r in household_records("h1")]
    registry = Registry(records)
    config = replace(DetectionConfig(), welfare=RhythmSettings(min_days=3))
    series = household_series("h1", living)
    engine = welfare_alarms(registry, series, config)
    alone = watch_alarms(registry, series, config)
    assert [a.to_dict() for a in engine] == [a.to_dict() for a in alone]
    assert any(a.kind is AlarmKind.WELFARE_CHECK and a.state is AlarmState.RAISE
               and a.ts_ms > fall for a in engine)


def test_signs_of_life_are_read_afterwards_as_the_rule_reads_them() -> None:
    """Multi-day absences are recognised from the data: the next sign after a silence."""
    import numpy as np

    from gongzhi.evaluation.welfare_real import _next, _signs

    minute = 60_000
    ts = np.arange(0, 30, dtype=np.int64) * minute
    power = np.full(30, 100.0)
    power[3] = 300.0  # a lone step up and down a minute apart: the second is a sign
    power[20:] = 400.0  # one step only, ten minutes after the last: not a sign
    power[25] = 0.0  # a gap in the recording: no step across it
    assert _signs(ts, power).tolist() == [4 * minute]
    assert _next(_signs(ts, power), 0) == 4 * minute
    assert _next(_signs(ts, power), 4 * minute) is None
