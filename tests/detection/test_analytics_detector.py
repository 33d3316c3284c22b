"""The causal multivariate detector, the SKAB reader and ``gongzhi detect-csv`` on synthetic
files shaped like SKAB's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gongzhi.core.cli import main
from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.analytics.detector import MultivariateConfig, MultivariateDetector
from gongzhi.evaluation.analytics.skab import read_skab

ROWS, FAULT = 1100, (600, 850)


def plant(seed: int, fault: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Flow, motor current (follows flow), pressure noise and a slowly wandering temperature;
    the fault drops the flow by five of its standard deviations."""
    rng = np.random.default_rng(seed)
    flow = 32 + rng.normal(0, 0.4, ROWS)
    label = np.zeros(ROWS, np.int8)
    if fault:
        flow[FAULT[0]:FAULT[1]] -= 2.0
        label[FAULT[0]:FAULT[1]] = 1
    current = 1.0 + 0.03 * (flow - 32) + rng.normal(0, 0.01, ROWS)
    pressure = 0.1 + rng.normal(0, 0.25, ROWS)
    temperature = 70 + np.cumsum(rng.normal(0, 0.12, ROWS)) + 3 * np.sin(np.arange(ROWS) / 150)
    return np.column_stack([flow, current, pressure, temperature]), label


def test_a_flow_drop_is_flagged_and_temperature_wander_is_not() -> None:
    values, _ = plant(1)
    predicted = MultivariateDetector(4).run(values)
    assert not predicted[:400].any()  # training rows are never flagged
    onset = int(np.argmax(predicted[FAULT[0]:])) + FAULT[0]
    assert FAULT[0] <= onset <= FAULT[0] + 15
    assert predicted[FAULT[0] + 15:FAULT[1]].all()
    assert not predicted[400:FAULT[0]].any()
    end = FAULT[1] + int(np.argmin(predicted[FAULT[1]:]))
    assert FAULT[1] + 30 <= end <= FAULT[1] + 45  # the 30-row clear hold-off, then quiet
    assert not predicted[end:].any()


def test_normal_running_stays_quiet() -> None:
    for seed in range(3):
        values, _ = plant(seed + 10, fault=False)
        assert MultivariateDetector(4).run(values).mean() < 0.01


def stepped(seed: int, rows: int) -> np.ndarray:
    """Flow, current and pressure noise; from row 600 the flow is 4.0 higher for good (a valve
    left at a new setting)."""
    rng = np.random.default_rng(seed)
    flow = 32 + rng.normal(0, 0.4, rows)
    flow[600:] += 4.0
    current = 1.0 + 0.03 * (flow - 32) + rng.normal(0, 0.01, rows)
    return np.column_stack([flow, current, 0.1 + rng.normal(0, 0.25, rows)])


@pytest.mark.parametrize(("max_freeze", "clears"), [(600, True), (10**9, False)])
def test_a_new_normal_is_learned_after_max_freeze(max_freeze: int, clears: bool) -> None:
    """A step that never goes back: flagged at first, learned after ``max_freeze`` rows
    instead of flagged for ever."""
    values = stepped(5, 2600)
    config = MultivariateConfig(max_freeze=max_freeze, max_alarm=None)
    predicted = MultivariateDetector(3, config).run(values)
    assert predicted[610:1100].all()
    assert (not predicted[2000:].any()) is clears


@pytest.mark.parametrize("max_alarm", [200, 450])
def test_an_alarm_held_max_alarm_rows_relearns_and_clears(max_alarm: int) -> None:
    """A step that never goes back, with channels that never learn by themselves: the alarm
    holds exactly ``max_alarm`` rows, then the present is the new normal."""
    values = stepped(6, 1600)
    config = MultivariateConfig(max_freeze=10**9, max_alarm=max_alarm)
    predicted = MultivariateDetector(3, config).run(values)
    onset = 600 + int(np.argmax(predicted[600:]))
    assert onset < 615
    assert predicted[onset:onset + max_alarm].all()
    assert not predicted[onset + max_alarm:].any()


def test_strictly_causal_a_row_never_depends_on_later_rows() -> None:
    values, _ = plant(2)
    changed = values.copy()
    changed[700:] += 50.0  # wild future
    config = MultivariateConfig(max_alarm=None)  # the wild future holds its alarm to the end
    first = MultivariateDetector(4, config).run(values)
    second = MultivariateDetector(4, config).run(changed)
    assert (first[:700] == second[:700]).all()
    assert second[705:].all()


def write_skab(path: Path, values: np.ndarray, label: np.ndarray | None) -> None:
    header = "datetime;Flow;Current;Pressure;Temperature"
    lines = []
    for i, row in enumerate(values):
        stamp = f"2020-03-09 10:{i // 60 % 60:02d}:{i % 60:02d}".replace(
            "10:", f"{10 + i // 3600:02d}:", 1)
        fields = [stamp, *(f"{v:.5f}" for v in row)]
        if label is not None:
            start = i in (FAULT[0], FAULT[1])
            fields += [f"{float(label[i])}", "1.0" if start else "0.0"]
        lines.append(";".join(fields))
    if label is not None:
        header += ";anomaly;changepoint"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def test_reader_keeps_columns_times_and_labels(tmp_path: Path) -> None:
    values, label = plant(3)
    write_skab(tmp_path / "a.csv", values[:5], label[:5])
    data = read_skab(tmp_path / "a.csv")
    assert data.columns == ("Flow", "Current", "Pressure", "Temperature")
    assert np.diff(data.times_ms).tolist() == [1000] * 4
    assert data.values.shape == (5, 4) and data.anomaly is not None
    assert data.values[0, 0] == pytest.approx(values[0, 0], abs=1e-5)


def test_reader_names_the_line_of_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("datetime;Flow\n2020-03-09 10:00:00;1.0\n2020-03-09 10:00:01;oops\n")
    with pytest.raises(ConfigError, match=r"bad\.csv:3"):
        read_skab(path)


def test_detect_csv_writes_one_verdict_per_row_and_scores(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    for n in range(2):
        values, label = plant(20 + n)
        write_skab(inputs / "valve" / f"{n}.csv", values, label)
    values, _ = plant(30, fault=False)
    write_skab(inputs / "free" / "anomaly-free.csv", values, None)
    code = main(["detect-csv", "--format", "skab", "--input-dir", str(inputs),
                 "--output-dir", str(outputs)])
    assert code == 0
    for name in ("valve/0.csv", "valve/1.csv", "free/anomaly-free.csv"):
        lines = (outputs / name).read_text().splitlines()
        assert lines[0] == "anomaly" and len(lines) == ROWS + 1
        assert set(lines[1:]) <= {"0", "1"}
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == 3 and summary["labelled_files"] == 2
    assert summary["f1"] > 0.9 and summary["far_pct"] < 10
    assert summary["nab"]["standard"] > 50
    assert summary["unlabelled_flagged_pct"] < 1


def test_detect_csv_refuses_an_output_inside_the_input(tmp_path: Path) -> None:
    values, label = plant(4)
    write_skab(tmp_path / "in" / "a.csv", values, label)
    code = main(["detect-csv", "--format", "skab", "--input-dir", str(tmp_path / "in"),
                 "--output-dir", str(tmp_path / "in" / "out")])
    assert code == 2
