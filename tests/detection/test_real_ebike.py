"""The e-bike evaluation on real homes, on a small slice of the real data (../shared/data): the
recordings as a monitor would report them, false alarms counted and attributed, real charger
shapes played into a household's power and found or missed; the development tool for the rule's
settings (constants changed for a run and put back, refused with a reason when they are not the
rule's)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.ebike_chargers import Charge, taper_shapes
from gongzhi.evaluation.ebike_development import (
    changed_rule,
    development_figures,
    main,
    parse_changes,
)
from gongzhi.evaluation.ebike_false import false_alarms
from gongzhi.evaluation.ebike_recall import (
    AFTER_MS,
    CONTROL_WARMUP_MS,
    WATCHED_MS,
    play_charges,
)
from gongzhi.evaluation.household import (
    APPLIANCES,
    DAY_MS,
    DEVELOPMENT,
    MINUTE_MS,
    REPORT,
    UNMETERED,
    Recording,
    attribute,
    default_data_dir,
    load_recordings,
    recording_pieces,
)
from gongzhi.gateway.detection.ebike import EbikeChargingDetector

DATA = default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "household-power").is_dir()
                                or not (DATA / "ebike-chargers").is_dir(),
                                reason=f"{DATA} has no household-power or ebike-chargers")


def test_development_and_report_houses_are_apart() -> None:
    assert DEVELOPMENT and REPORT and not set(DEVELOPMENT) & set(REPORT)


@needs_data
def test_a_month_as_a_monitor_reports_it() -> None:
    month = load_recordings(DATA, DEVELOPMENT[0])[0]
    assert month.ts.size > 1000 and (month.aggregate > 0).all()  # gap minutes dropped
    assert (np.diff(month.ts) >= 60_000).all()
    assert set(month.appliances) == set(APPLIANCES)
    pieces = recording_pieces([month], days=7)
    counted = np.concatenate([p.ts[p.ts >= p.count_from_ms] for p in pieces])
    assert np.array_equal(np.sort(counted), month.ts)  # every minute counted once


@needs_data
def test_false_alarms_on_a_month_are_counted_and_attributed() -> None:
    result = false_alarms(DATA, DEVELOPMENT, months=1)
    assert result.household_days == pytest.approx(load_recordings(DATA, DEVELOPMENT[0])[0].days)
    assert result.per_1000_days == pytest.approx(1000 * len(result.alarms)
                                                 / result.household_days)
    for alarm in result.alarms:
        assert alarm.appliance in (*APPLIANCES, UNMETERED)
        assert alarm.step_ms < alarm.raised_ms
    assert sum(result.by_appliance().values()) == len(result.alarms)


def test_attribution_names_the_appliance_that_held_the_load() -> None:
    ts = np.arange(200, dtype=np.int64) * 60_000
    quiet = {a: np.zeros(200) for a in APPLIANCES}
    washing = {**quiet, "Dishwasher": np.where((ts >= 50 * 60_000) & (ts < 150 * 60_000),
                                               140.0, 0.0),
               "Kettle": np.where(ts == 60 * 60_000, 2500.0, 0.0)}
    busy = Recording("h", "m", ts, np.full(200, 300.0), washing)
    assert attribute([busy], 50 * 60_000, 140 * 60_000, 150.0) == "Dishwasher"
    still = Recording("h", "m", ts, np.full(200, 300.0), quiet)
    assert attribute([still], 50 * 60_000, 140 * 60_000, 150.0) == UNMETERED


@needs_data
def test_real_charger_shapes_scaled() -> None:
    shapes = taper_shapes(DATA)
    assert len(shapes) >= 2
    for shape in shapes:
        assert shape.share[0] > 0.9 and shape.share[-1] < 0.25
        assert 60 < shape.length_min < 180
    charge = Charge.scaled(shapes[0], 250.0, 2.0)
    assert charge.taper_end_min == pytest.approx(120.0)
    assert charge.draw_w[0] == pytest.approx(250.0)
    assert charge.draw_w[int(charge.plateau_min) - 1] == pytest.approx(250 * 1.03, rel=0.01)
    assert charge.draw_w.size == 121 and charge.draw_w[-1] < 0.25 * 250  # then unplugged


def quiet_house(root: Path) -> Path:
    """A house with nothing but a steady 150 W (and meter noise) for a week: any charger played
    into it stands alone."""
    directory = root / "household-power"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(5)
    lines = ["Time,Aggregate,Kettle,Dishwasher,WashingMachine,Microwave"]
    start = np.datetime64("2013-06-01T00:00")
    for minute in range(7 * 1440):
        stamp = str(start + np.timedelta64(minute, "m")).replace("T", " ")
        lines.append(f"{stamp}:00,{150 + rng.normal(0, 2):.1f},0,0,0,0")
    with gzip.open(directory / "QUIET_House1_2013-06.gzip", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    (root / "ebike-chargers").symlink_to(DATA / "ebike-chargers")
    return root


@needs_data
def test_charges_played_into_a_quiet_house_are_found_before_their_taper_ends(
        tmp_path: Path) -> None:
    result = play_charges(quiet_house(tmp_path), ("QUIET_House1",), per_house=6, seed=3)
    assert len(result.charges) == 6
    for played in result.charges:
        hour = played.plug_ms % 86_400_000 / 3_600_000
        assert 17 <= hour < 23
        assert 100 <= played.charge.level_w <= 400 and 1 <= played.charge.hours <= 5
    assert result.recall == 1.0
    for played in result.charges:
        assert played.delay_min is not None
        assert played.charge.plateau_min < played.delay_min <= played.charge.taper_end_min
    # The same evenings without the charges raise nothing; counted after their warm-up (from
    # the day before the plug-in to 2 h after the taper, the last minute's row the end).
    assert result.control_alarms == 0
    assert result.control_days == pytest.approx(sum(
        WATCHED_MS + played.charge.taper_end_min * MINUTE_MS + AFTER_MS - MINUTE_MS
        - CONTROL_WARMUP_MS for played in result.charges) / DAY_MS, abs=0.01)


@needs_data
def test_charges_played_into_a_real_house_are_scored() -> None:
    result = play_charges(DATA, DEVELOPMENT, per_house=4, seed=5)
    assert len(result.charges) == 4
    assert result.recall == len(result.delays_min()) / 4


def test_changes_are_read_in_the_constants_own_types() -> None:
    changes = parse_changes(" SLOTS=6, OFF_SHARE=0.1,CC_MIN_MS=9e5,")
    assert changes == {"SLOTS": 6, "OFF_SHARE": 0.1, "CC_MIN_MS": 900_000}
    assert isinstance(changes["SLOTS"], int) and isinstance(changes["CC_MIN_MS"], int)
    assert isinstance(changes["OFF_SHARE"], float)
    assert parse_changes("") == {}


@pytest.mark.parametrize(("text", "says"), [
    ("NOPE=1", "not NAME=VALUE for a constant of the rule"),
    ("SIGN_Z", "not NAME=VALUE"),
    ("METRIC=1", "not NAME=VALUE"),  # a constant, but not a number
    ("DEVICE_STATE=1", "not NAME=VALUE"),
    ("SIGN_Z=high", "'high' is not a number"),
    ("SLOTS=6.5", "SLOTS: a whole number, not 6.5"),
])
def test_what_is_not_a_setting_of_the_rule_is_refused(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_changes(text)


def test_the_constants_are_put_back_whatever_happens() -> None:
    before = EbikeChargingDetector.SIGN_Z, EbikeChargingDetector.SLOTS
    with pytest.raises(RuntimeError), changed_rule({"SIGN_Z": 1.5, "SLOTS": 7}):
        assert (EbikeChargingDetector.SIGN_Z, EbikeChargingDetector.SLOTS) == (1.5, 7)
        raise RuntimeError
    assert before == (EbikeChargingDetector.SIGN_Z, EbikeChargingDetector.SLOTS)


def test_a_bad_change_stops_the_command_with_its_reason(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["--set", "SLOTS=many"]) == 2
    assert "SLOTS: 'many' is not a number" in capsys.readouterr().err


@needs_data
def test_figures_of_the_development_house_take_the_changes(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "7", "--charges", "4", "--months", "1"]) == 0
    rule = json.loads(capsys.readouterr().out)
    assert rule["houses"] == list(DEVELOPMENT) and rule["changes"] == {}
    # (A seed's charge is left out where no evening of the house has the data around it.)
    assert 0 < rule["charges"] <= 4 and rule["found"] >= 1
    assert rule["found_per_seed"] == [rule["found"]]
    assert sum(int(v.split("/")[1]) for v in rule["found_by_level_w"].values()) \
        == rule["charges"]
    # A plateau that must hold for longer than any charge: nothing is recognised.
    never = development_figures(DATA, {"CC_MIN_MS": 10**9}, seeds=(7,), per_seed=4, months=1)
    assert never["found"] == 0 and never["false_alarms"] == 0
    assert never["replayed_false_alarms"] == 0
    assert never["charges"] == rule["charges"]  # the same charges
    assert never["household_days"] == rule["household_days"]
    assert EbikeChargingDetector.CC_MIN_MS == 20 * 60_000  # put back
    # Glides taken on their total alone: the house's own loads raise, in its month and on the
    # days its evenings were replayed.
    loose = development_figures(DATA, {"SIGN_Z": 1.0, "BLOCK_SIGN_Z": 1.0, "GLIDE_T": 0.5},
                                seeds=(7,), per_seed=4, months=1)
    assert loose["false_alarms"] > rule["false_alarms"]
    assert loose["replayed_false_alarms"] > rule["replayed_false_alarms"]
    assert loose["replayed_days"] == rule["replayed_days"] > 0
