"""``gongzhi simulate`` and ``gongzhi estate registry`` as commands."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import Capture

from gongzhi.core.cli import main
from gongzhi.devices.registry import load_registry
from gongzhi.simulators.groundtruth import read_ground_truth
from gongzhi.simulators.runner import plan_start


def test_simulate_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--estate", "--scenario", "--speed", "--duration", "--start", "--seed",
                   "--ground-truth", "--registry", "--mode", "--connections", "--qos",
                   "--quiet", "--mqtt-url", "--data-dir"):
        assert option in text
    assert "never runs ahead of the real one" in text
    assert "GONGZHI_MQTT_URL" in text


def test_estate_registry_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reg" / "registry.csv"
    assert main(["estate", "registry", "--estate", "small", "--out", str(out), "--seed",
                 "2"]) == 0
    assert len(load_registry(out)) == 52
    assert "wrote 52 devices of small" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "words"), [
    (["--speed", "0"], "the speed must be above 0"),
    (["--speed", "fast"], "not a speed"),
    (["--duration", "soon"], "not a duration"),
    (["--mode", "shared"], "invalid choice"),
])
def test_simulate_refuses_bad_options(args: list[str], words: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", *args])
    assert done.value.code == 2
    assert words in capsys.readouterr().err


def test_unknown_estate_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--estate", "atlantis", "--mqtt-url",
                 "mqtt://127.0.0.1:1"]) == 2
    assert "no shipped estate named 'atlantis'" in capsys.readouterr().err


@pytest.mark.parametrize(("now", "speed", "duration", "start", "expected"), [
    (1_000_000_000, 1.0, None, None, 1_000_000_000),
    (1_000_000_000, 1440.0, 86_400_000, None, 1_000_000_000 - 86_400_000),  # ends about now
    (1_000_000_000, float("inf"), 3_600_000, None, 1_000_000_000 - 3_600_000),
    (1_000_000_000, 1.0, 3_600_000, None, 1_000_000_000),  # real time: starts now
    (1_000_000_000, 60.0, None, 5_000, 5_000),  # an explicit start wins
])
def test_simulated_clock_start(now: int, speed: float, duration: int | None,
                               start: int | None, expected: int) -> None:
    assert plan_start(now, speed, duration, start) == expected


@pytest.mark.integration
def test_simulate_command_writes_registry_and_ground_truth(
        broker: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth, registry = tmp_path / "truth.jsonl", tmp_path / "registry.csv"
    rc = main(["simulate", "--estate", "small", "--scenario", "protocol", "--speed", "max",
               "--duration", "3m", "--mode", "multiplexed", "--connections", "2",
               "--mqtt-url", broker.url, "--ground-truth", str(truth), "--registry",
               str(registry), "--quiet"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "published" in err and "faults injected" in err
    lines = read_ground_truth(truth)
    assert lines and {line["outcome"] for line in lines} <= {
        "rejected", "dropped", "accepted", "clock_corrected"}
    assert all(line["expected"] is None for line in lines)
    assert len(load_registry(registry)) == 52


@pytest.mark.integration
def test_sigterm_stops_a_real_time_run_cleanly(broker: Any, tmp_path: Path) -> None:
    """How `gongzhi demo` stops its simulator: SIGTERM, then a flushed, summarised exit."""
    capture = Capture("127.0.0.1", broker.port).start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gongzhi.core.cli", "simulate", "--estate", "small",
             "--scenario", "demo", "--speed", "1", "--mqtt-url", broker.url,
             "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(t.endswith("/telemetry") for t, _ in capture.wait_for(0, 0)):
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert b"simulated 52 devices (per-device" in err
        received = capture.wait_for(0, 0)
        online = {t.split("/")[2] for t, p in received if t.endswith("/status") and p == b"online"}
        reporting = {t.split("/")[2] for t, _ in received if t.endswith("/telemetry")}
        # Each device announced itself before its first report.
        assert reporting and reporting <= online
        # The demo scenario's first fault comes 10 s in; the ground truth went to the data
        # directory by default.
        assert (tmp_path / "ground-truth.jsonl").exists()
    finally:
        capture.stop()
