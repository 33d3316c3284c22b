"""Real-fire evaluation (``gongzhi.evaluation.nist``): NIST-format files read, each room's
detector modelled as it reports, the gateway's engine run over them, compared with the
commercial alarms; exported as ``gongzhi backtest`` input (``nist_export``), the command gives
the same alarms. Small files written here; the shared data's first test when it is present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from detection_support import read_jsonl

from gongzhi.core.cli import main as cli_main
from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.nist import (
    IGNITION_MS,
    DetectorModel,
    evaluate_directory,
    read_activations,
    read_test,
    reports,
    run_test,
)
from gongzhi.evaluation.nist_export import export_test
from gongzhi.evaluation.nist_export import main as export_main
from gongzhi.gateway.backtest.output import alarm_line

NIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "nist-smoke-alarms"


def ramp(times: np.ndarray, start: float, per_s: float) -> np.ndarray:
    return np.maximum(0.0, times - start) * per_s


def write_test(directory: Path, name: str = "SDC99", *, heat: bool = True) -> None:
    """Three rooms every 2 s for 3 min: smoke growing in B from 20 s (0.002 OD/m a second),
    reaching A from 60 s, never C; B's ceiling heats 0.5 C a second from 30 s when ``heat``."""
    times = np.arange(0.0, 182.0, 2.0)
    columns = {
        "SMA_1": ramp(times, 60, 0.001), "SMA_4": ramp(times, 60, 0.0005),
        "SMB_1": ramp(times, 20, 0.002), "SMC_1": np.zeros_like(times),
        "TCA_1": 21 + ramp(times, 90, 0.05), "TCB_1": 21 + (ramp(times, 30, 0.5) if heat
                                                         else 0 * times),
        "TCC_1": np.full_like(times, 21.0), "TCB_2": np.full_like(times, 21.0),
    }
    lines = [",".join(["TIME", *columns])]
    for i, t in enumerate(times):
        lines.append(",".join([f"{t:.2E}", *(f"{v[i]:.3E}" for v in columns.values())]))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"NIST_Smoke_Alarms_{name}.csv").write_text("\n".join(lines) + "\n")
    (directory / "Activation_Times.csv").write_text(
        f"Act,{name}-Pho1A,{name}-Ion1A,{name}-Pho1B,{name}-Pho3B,{name}-Ion1B,{name}-Pho1C\n"
        "-1,150,140,70,64,40,-1\n")


def test_smoke_is_converted_from_optical_density_to_db_per_metre(tmp_path: Path) -> None:
    write_test(tmp_path)
    test = read_test(tmp_path / "NIST_Smoke_Alarms_SDC99.csv")
    assert test.name == "SDC99" and test.rooms() == ["A", "B", "C"]
    t = int(np.searchsorted(test.times_s, 70.0))
    # 50 s of 0.002 OD/m a second: 0.1 OD/m, 1 dB/m (10 log10 against log10).
    assert test.smoke_db_m("B")[t] == pytest.approx(1.0, abs=1e-3)
    assert test.smoke_db_m("B").max() <= 20.0  # the catalogue's range
    assert test.temp_c("B").max() <= 150.0


def test_a_detector_reports_the_latest_sample_never_a_later_one(tmp_path: Path) -> None:
    write_test(tmp_path)
    test = read_test(tmp_path / "NIST_Smoke_Alarms_SDC99.csv")
    sent = reports(test, "B", DetectorModel(heartbeat_s=30.0, fast_s=1.0, fast_above_db_m=0.1))
    by_s = {ts / 1000: smoke for ts, smoke, _ in sent}
    # Clear air: heartbeats only. From 26 s (0.12 dB/m) every second, each the last sample.
    assert [s for s in by_s if s < 26] == [0.0]
    assert all(s in by_s for s in range(26, 60))
    assert by_s[27.0] == by_s[26.0] == pytest.approx(0.12, abs=1e-3)
    assert by_s[28.0] == pytest.approx(0.16, abs=1e-3)
    # Room C never smokes: one report per heartbeat.
    assert [ts for ts, _, _ in reports(test, "C", DetectorModel())] == [
        0, 30_000, 60_000, 90_000, 120_000, 150_000, 180_000]


def test_a_detector_reports_once_more_when_the_smoke_falls_back(tmp_path: Path) -> None:
    write_test(tmp_path)
    test = read_test(tmp_path / "NIST_Smoke_Alarms_SDC99.csv")
    test.channels["SMB_1"][20:] = 0.0  # gone at 40 s
    sent = reports(test, "B", DetectorModel())
    assert [(ts, smoke) for ts, smoke, _ in sent if 38_000 <= ts <= 75_000] == [
        (38_000, pytest.approx(0.36, abs=1e-3)), (39_000, pytest.approx(0.36, abs=1e-3)),
        (40_000, 0.0), (70_000, 0.0)]


def test_the_engine_raises_smoke_alarms_and_confirms_the_fire(tmp_path: Path) -> None:
    write_test(tmp_path)
    commercial = read_activations(tmp_path / "Activation_Times.csv")
    result = run_test(read_test(tmp_path / "NIST_Smoke_Alarms_SDC99.csv"), commercial)
    rooms = {r.room: r for r in result.rooms}
    # B reaches 0.2 dB/m at 30 s; the rule's 5 s minimum duration.
    assert rooms["B"].smoke_alarm_s == 35.0
    assert rooms["B"].photoelectric_s == 64.0 and rooms["B"].ionisation_s == 40.0
    assert rooms["A"].smoke_alarm_s == 85.0 and rooms["A"].photoelectric_s == 150.0
    assert rooms["C"].smoke_alarm_s is None and rooms["C"].photoelectric_s is None
    # B's ceiling is 10 C warmer at 50 s while its smoke lasts.
    assert (result.fire_s, result.fire_cause) == (50.0, "smoke_and_heat")
    assert result.confirm_s == 15.0


def test_without_heat_a_second_room_confirms(tmp_path: Path) -> None:
    write_test(tmp_path, heat=False)
    evaluation = evaluate_directory(tmp_path)
    (test,) = evaluation.tests
    assert (test.fire_s, test.fire_cause) == (85.0, "two_detectors")
    assert evaluation.rooms_vs_photoelectric_s == [85.0 - 150.0, 35.0 - 64.0]
    assert evaluation.confirm_s == [50.0]
    assert evaluation.counts()["rooms_missed_vs_photoelectric"] == 0


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    write_test(tmp_path)
    bad = tmp_path / "NIST_Smoke_Alarms_SDC98.csv"
    bad.write_text("TIME,SMA_1\n0,oops\n")
    with pytest.raises(ConfigError, match="SDC98"):
        read_test(bad)
    (tmp_path / "Activation_Times.csv").write_text("Act,SDC99-Xyz1A\n-1,3\n")
    with pytest.raises(ConfigError, match="Xyz1A"):
        read_activations(tmp_path / "Activation_Times.csv")


@pytest.mark.skipif(not NIST.is_dir(), reason="shared NIST data not present")
def test_first_real_fire_smoke_alarms_beside_the_commercial_ones() -> None:
    commercial = read_activations(NIST / "Activation_Times.csv")
    result = run_test(read_test(NIST / "NIST_Smoke_Alarms_SDC02.csv"), commercial)
    sounded = [r for r in result.rooms if r.photoelectric_s is not None]
    assert len(sounded) == 5
    assert all(r.smoke_alarm_s is not None for r in sounded)
    assert result.confirm_s is not None and result.confirm_s <= 30.0


def backtest_lines(home: Path, out: Path) -> list[dict[str, Any]]:
    """``gongzhi backtest`` over an exported test's directory: its ALARMS.jsonl lines."""
    assert cli_main(["backtest", "--registry", str(home / "registry.csv"), "--input",
                     str(home / "data"), "--output", str(out)]) == 0
    return read_jsonl(out)


def test_the_command_over_an_export_gives_the_evaluations_alarms(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_test(tmp_path / "nist")
    test = read_test(tmp_path / "nist" / "NIST_Smoke_Alarms_SDC99.csv")
    home = export_test(test, tmp_path / "out")
    assert sorted(p.name for p in (home / "data").iterdir()) == [
        f"nist-sdc99-{room}.csv" for room in "abc"]
    lines = backtest_lines(home, tmp_path / "alarms.jsonl")
    result = run_test(test, read_activations(tmp_path / "nist" / "Activation_Times.csv"))
    assert lines == [json.loads(orjson.dumps(alarm_line(a))) for a in result.alarms]
    raised = {(line["kind"], line["device_id"], line["ts"]) for line in lines
              if line["state"] == "raise"}
    assert {("smoke_alarm", "nist-sdc99-b", IGNITION_MS + 35_000),
            ("fire", "nist-sdc99-b", IGNITION_MS + 50_000)} <= raised
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["alarms"] == len(raised)


def test_the_export_command_writes_every_test_and_names_a_missing_source(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_test(tmp_path / "nist", "SDC97")
    write_test(tmp_path / "nist", "SDC98")
    assert export_main([str(tmp_path / "out"), "--data", str(tmp_path / "nist")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / n)
                                               for n in ("SDC97", "SDC98")]
    assert export_main([str(tmp_path / "out"), "--data", str(tmp_path / "none")]) == 2
    assert "no NIST_Smoke_Alarms_SDC*.csv under" in capsys.readouterr().err


@pytest.mark.skipif(not NIST.is_dir(), reason="shared NIST data not present")
def test_the_command_over_the_first_real_fire_gives_the_evaluations_alarms(
        tmp_path: Path) -> None:
    test = read_test(NIST / "NIST_Smoke_Alarms_SDC02.csv")
    (home,) = [export_test(test, tmp_path)]
    lines = backtest_lines(home, tmp_path / "alarms.jsonl")
    result = run_test(test, read_activations(NIST / "Activation_Times.csv"))
    assert lines == [json.loads(orjson.dumps(alarm_line(a))) for a in result.alarms]
    assert sum(line["kind"] == "smoke_alarm" and line["state"] == "raise" for line in lines) >= 5
