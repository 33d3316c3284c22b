"""``gongzhi backtest``: recorded CSV files through the gateway's own engine, checked against what
the gateway's pipeline (real decoder, real SQLite outbox, dead letters and telemetry store),
fed the same data as MQTT messages and ticked every second, raises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from detection_support import read_jsonl

from gongzhi.core.cli import main
from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import load_registry
from gongzhi.gateway.dead_letters import DeadLetterStore
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.device_states import DeviceStateTracker
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.outbox import AlarmOutbox
from gongzhi.gateway.pipeline import IngestPipeline
from gongzhi.gateway.service import default_detector
from gongzhi.gateway.telemetry_store import TelemetryStore
from tests.telemetry.flux_support import FluxPeer

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
REGISTRY = """\
device_id,type,estate_id,building,unit,floor,room,elderly_alone,leak_alarm_ma,report_interval_s
em-1,electrical,e1,b1,1,3,301,0,200,
em-2,electrical,e1,b1,1,3,302,0,,60
sd-1,smoke,e1,b1,1,3,301,0,,
"""
Row = tuple[int, dict[str, float]]


def recorded() -> dict[str, tuple[list[str], list[Row]]]:
    """em-1: every 10 s, all metrics, leakage of 240 mA (its own threshold is 200) from 60 s
    to 120 s, silent from 600 s to 720 s (offline after 30 s, then back). em-2: power only,
    once a minute, an ordinary load. sd-1: smoke above the threshold from 100 s to 200 s."""
    em1: list[Row] = []
    for t in range(0, 1200, 10):
        if 600 <= t < 720:
            continue
        em1.append((T0 + t * 1000, {"power_w": 800.0 + t % 70, "current_a": 3.5,
                                    "voltage_v": 229.0 + (t % 30) / 10,
                                    "residual_ma": 240.0 if 60 <= t < 120 else 20.0}))
    em2 = [(T0 + t * 1000 + 500, {"power_w": 300.0 + (t // 60) % 7})
           for t in range(0, 1200, 60)]
    sd1 = [(T0 + t * 1000 + 250, {"smoke_db_m": 0.35 if 100 <= t < 200 else 0.01,
                                  "temp_c": 21.0}) for t in range(0, 1200, 5)]
    return {"em-1": (["power_w", "current_a", "voltage_v", "residual_ma"], em1),
            "em-2": (["power_w", "current_a", "voltage_v"], em2),  # current, voltage empty
            "sd-1": (["smoke_db_m", "temp_c"], sd1)}


def write_inputs(root: Path) -> tuple[Path, Path]:
    registry = root / "registry.csv"
    registry.write_text(REGISTRY)
    data = root / "data"
    data.mkdir()
    for device, (columns, rows) in recorded().items():
        lines = ["ts," + ",".join(columns)]
        lines += [f"{ts}," + ",".join(repr(v[c]) if c in v else "" for c in columns)
                  for ts, v in rows]
        (data / f"{device}.csv").write_text("\n".join(lines) + "\n")
    return registry, data


def gateway_alarms(registry_path: Path, root: Path) -> list[dict[str, Any]]:
    """The same rows as MQTT messages through the gateway's pipeline, received at their own
    time; the rows of each second are one batch; detection ticked every second."""
    registry = load_registry(registry_path)
    clock = ManualClock(T0)
    store, outbox = TelemetryStore(root / "telemetry.db"), AlarmOutbox(root / "outbox.db")
    dead = DeadLetterStore(root / "dead.db")
    for part in (store, outbox, dead):
        part.open()
    pipeline = IngestPipeline(decoder=Decoder(registry), detector=default_detector(registry),
                              sink=store, outbox=outbox, dead_letters=dead,
                              states=DeviceStateTracker(), metrics=GatewayMetrics(), clock=clock)
    messages = sorted((ts, device, values) for device, (_, rows) in recorded().items()
                      for ts, values in rows)
    alarms: list[dict[str, Any]] = []
    try:
        first, last = messages[0][0] // 1000, messages[-1][0] // 1000
        i = 0
        for second in range(first, last + 1):
            batch = []
            while i < len(messages) and messages[i][0] // 1000 == second:
                ts, device, values = messages[i]
                batch.append(RawMessage(f"estate/e1/{device}/telemetry",
                                        orjson.dumps({"ts": ts, "values": values}), ts))
                i += 1
            if batch:
                clock.set(batch[-1].received_ms)
                alarms += [a.to_dict() for a in pipeline.handle(batch)]
            clock.set((second + 1) * 1000)
            alarms += [a.to_dict() for a in pipeline.tick((second + 1) * 1000)]
        assert not dead.recent(10, None)
    finally:
        for part in (store, outbox, dead):
            part.close()
    return alarms


def test_backtest_command_gives_the_gateways_alarms(tmp_path: Path) -> None:
    registry, data = write_inputs(tmp_path)
    out = tmp_path / "alarms.jsonl"
    done = subprocess.run([sys.executable, "-m", "gongzhi.core.cli", "backtest", "--registry",
                           str(registry), "--input", str(data), "--output", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    lines = read_jsonl(out)
    expected = gateway_alarms(registry, tmp_path)
    kinds = {(a["kind"], a["state"], a["device_id"]) for a in expected}
    assert kinds == {(kind, state, device) for kind, device in (
        ("electrical_leakage", "em-1"), ("smoke_alarm", "sd-1"), ("device_offline", "em-1"))
        for state in ("raise", "clear")}
    assert [{k: v for k, v in a.items() if k != "ts"} for a in lines] == expected
    assert all(a["ts"] == a["ts_ms"] for a in lines)
    leak = next(a for a in lines if a["kind"] == "electrical_leakage")
    assert leak["evidence"]["threshold"] == 200.0  # the registry's per-device setting
    offline = next(a for a in lines if a["kind"] == "device_offline")
    assert offline["ts"] == T0 + 591_000 + 30_000  # the first second silent more than 30 s
    rows = sum(len(rows) for _, rows in recorded().values())
    assert summary["rows"] == rows and summary["devices"] == 3
    assert summary["alarms_by_kind"] == {"device_offline": 1, "electrical_leakage": 1,
                                         "smoke_alarm": 1}


def test_backtest_from_the_telemetry_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           ) -> None:
    registry, _ = write_inputs(tmp_path)
    expected = gateway_alarms(registry, tmp_path)  # the pipeline stored what it received
    out = tmp_path / "from-store.jsonl"
    assert main(["backtest", "--registry", str(registry), "--from-store",
                 str(tmp_path / "telemetry.db"), "--since", str(T0),
                 "--until", str(T0 + 3_600_000), "--output", str(out)]) == 0
    assert [{k: v for k, v in a.items() if k != "ts"} for a in read_jsonl(out)] == expected
    assert json.loads(capsys.readouterr().out)["devices"] == 3


def recorded_answer(query: str) -> tuple[int, str]:
    """What InfluxDB holding ``recorded()`` answers a Flux query: the queried device's points in
    the queried range as annotated CSV, one table per field."""
    device = re.search(r'r\.device == "([^"]+)"', query)
    start, stop = (int(v) // 1_000_000 for v in re.findall(r"time\(v: (\d+)\)", query))
    _, rows = recorded().get(device.group(1) if device else "", ([], []))
    lines = ["#datatype,string,long,dateTime:RFC3339,string,double",
             "#group,false,false,false,true,false", "#default,_result,,,,",
             ",result,table,_time,_field,_value"]
    fields = sorted({f for _, values in rows for f in values})
    for table, field in enumerate(fields):
        for ts, values in rows:
            if field in values and start <= ts < stop:
                stamp = datetime.fromtimestamp(ts / 1000, UTC).isoformat(
                    timespec="milliseconds").replace("+00:00", "Z")
                lines.append(f",,{table},{stamp},{field},{values[field]}")
    return 200, "\r\n".join(lines) + "\r\n\r\n"


def test_backtest_from_influxdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    registry, _ = write_inputs(tmp_path)
    expected = gateway_alarms(registry, tmp_path)
    out = tmp_path / "from-influx.jsonl"
    with FluxPeer(recorded_answer) as store:
        monkeypatch.setenv("GONGZHI_INFLUX_URL", store.url)
        monkeypatch.setenv("GONGZHI_INFLUX_BUCKET", "site-7")
        assert main(["backtest", "--registry", str(registry), "--source", "influx",
                     "--devices", "em-1,em-2,sd-1", "--from", str(T0),
                     "--to", str(T0 + 3_600_000), "--output", str(out)]) == 0
    assert [{k: v for k, v in a.items() if k != "ts"} for a in read_jsonl(out)] == expected
    summary = json.loads(capsys.readouterr().out)
    assert summary["devices"] == 3
    assert summary["rows"] == sum(len(rows) for _, rows in recorded().values())
    assert len(store.queries) == 3
    assert all('from(bucket: "site-7")' in q for q in store.queries)


def test_backtest_from_influxdb_needs_its_settings(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    registry, _ = write_inputs(tmp_path)
    monkeypatch.delenv("GONGZHI_INFLUX_URL", raising=False)
    assert main(["backtest", "--registry", str(registry), "--source", "influx",
                 "--output", str(tmp_path / "out.jsonl")]) == 2


def test_a_monitor_reporting_power_alone_raises_nothing(tmp_path: Path) -> None:
    registry, data = write_inputs(tmp_path)
    for other in ("em-1", "sd-1"):  # (in the registry, left out: no rows)
        (data / f"{other}.csv").unlink()
    out = tmp_path / "alarms.jsonl"
    assert main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(out)]) == 0
    assert read_jsonl(out) == []


@pytest.mark.parametrize(("file", "content", "where", "says"), [
    ("em-9.csv", "ts,power_w\n1767225600000,5\n", "em-9.csv:1", "not in the registry"),
    ("em-2.csv", "ts,power_w,smoke_db_m\n1767225600000,5,\n", "em-2.csv:1",
     "smoke_db_m not a metric of electrical"),
    ("em-2.csv", "ts,power_w\n1767225600000,5\n1767225660000,five\n", "em-2.csv:3",
     "not a number"),
    ("em-2.csv", "ts,power_w\n1767225600000,5\n1767225660000,5,7\n", "em-2.csv:3", "3 cells"),
    ("em-2.csv", "ts,power_w\n1767225660000,5\n1767225600000,6\n", "em-2.csv:3",
     "not after the previous row"),
    ("em-2.csv", "ts,power_w\n1767225600.5,5\n", "em-2.csv:2", "not an integer"),
    ("em-2.csv", "ts,power_w\n1767225600000,5\n1.8e19,5\n", "em-2.csv:3", "not an integer"),
    ("em-2.csv", "ts,power_w\n1767225600000,5\nnan,5\n", "em-2.csv:3", "not an integer"),
    ("em-2.csv", "ts,power_w\n1767225600,5\n", "em-2.csv:2", "epoch seconds"),
    ("em-2.csv", "power_w\n5\n", "em-2.csv:1", "'ts' column"),
])
def test_bad_input_names_the_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           file: str, content: str, where: str,
                                           says: str) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    data = tmp_path / "data"
    data.mkdir()
    (data / file).write_text(content)
    code = main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 2
    assert where in err and says in err, err


def test_rows_the_gateway_would_refuse_are_counted_not_replayed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    data = tmp_path / "data"
    data.mkdir()
    (data / "em-1.csv").write_text("ts,residual_ma,power_w\n1767225600000,9000,1\n"
                                   "1767225610000,,\n1767225620000,10,1\n")
    assert main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 1
    assert summary["rows_rejected"] == {"bad_shape": 1, "out_of_range": 1}
    assert summary["first_rejected"]["out_of_range"].endswith("em-1.csv:2")


PLAIN = "ts,power_w,current_a\n1767225600000,120.5,0.52\n1767225660000,,0.6\n1767225720000, 7 ,\n"


@pytest.mark.parametrize("variant", ["plain", "crlf", "quoted", "bom", "bom-crlf", "float-ts",
                                     "float-ts-crlf"])
def test_a_file_reads_the_same_whichever_reader_takes_it(tmp_path: Path, variant: str) -> None:
    """Plain files are read without the CSV module; quoted or CRLF files with it: the same
    series either way (empty cells NaN, padded cells read). A spreadsheet's export (a
    byte-order mark; a ts column written as floats) reads the same too."""
    from gongzhi.gateway.backtest.csv_input import read_device_csv

    float_ts = re.sub(r"^(\d+),", r"\1.0,", PLAIN, flags=re.M)
    text = {"plain": PLAIN, "crlf": PLAIN.replace("\n", "\r\n"),
            "quoted": PLAIN.replace("120.5", '"120.5"'), "bom": "\ufeff" + PLAIN,
            "bom-crlf": "\ufeff" + PLAIN.replace("\n", "\r\n"), "float-ts": float_ts,
            "float-ts-crlf": float_ts.replace("\n", "\r\n")}[variant]
    path = tmp_path / "em-1.csv"
    path.write_text(text, newline="")
    got = read_device_csv(path)
    assert got.ts.tolist() == [1767225600000, 1767225660000, 1767225720000]
    assert [got.line_of(r) for r in range(3)] == [2, 3, 4]
    power, current = got.values["power_w"], got.values["current_a"]
    assert power[0] == 120.5 and power[2] == 7.0 and power[1] != power[1]
    assert current[:2].tolist() == [0.52, 0.6] and current[2] != current[2]


def test_a_device_reporting_past_its_offline_limit_is_said_before_the_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """em-1 has no report_interval_s (its type's default, 10 s: offline after 30 s) and was
    recorded once a minute: it goes offline in every gap, as it would live, and the command says
    why before the flood; em-2 (report_interval_s 60) reports as set and is not named."""
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    data = tmp_path / "data"
    data.mkdir()
    rows = "\n".join(f"{T0 + m * 60_000},{300 + m % 3}" for m in range(30))
    for device in ("em-1", "em-2"):
        (data / f"{device}.csv").write_text(f"ts,power_w\n{rows}\n")
    out = tmp_path / "alarms.jsonl"
    assert main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(out)]) == 0
    said = capsys.readouterr()
    summary = json.loads(said.out)
    assert summary["slow_reporters"] == 1
    assert summary["slow_reporters_listed"] == [
        {"device_id": "em-1", "median_interval_s": 60.0, "offline_after_s": 30.0,
         "report_interval_s": 10.0, "interval_set": False}]
    warnings = [line for line in said.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "em-1 reports every 60 s" in warnings[0]
    assert "report_interval_s" in warnings[0]
    offline = {a["device_id"] for a in read_jsonl(out) if a["kind"] == "device_offline"}
    assert offline == {"em-1"}  # the replay still runs as configured


def test_the_warning_names_the_first_devices_and_counts_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gongzhi.gateway.backtest.commands import SAID
    from gongzhi.gateway.backtest.intervals import LISTED

    many = LISTED + 3
    lines = [REGISTRY.splitlines()[0]] + [f"em-{i},electrical,e1,b1,1,3,{i},0,,"
                                          for i in range(many)]
    registry = tmp_path / "registry.csv"
    registry.write_text("\n".join(lines) + "\n")
    data = tmp_path / "data"
    data.mkdir()
    for i in range(many):
        (data / f"em-{i}.csv").write_text(f"ts,power_w\n{T0},1\n{T0 + 120_000},1\n")
    assert main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(tmp_path / "alarms.jsonl")]) == 0
    said = capsys.readouterr()
    summary = json.loads(said.out)
    assert summary["slow_reporters"] == many
    assert len(summary["slow_reporters_listed"]) == LISTED
    warnings = said.err.splitlines()
    assert len(warnings) == SAID + 1
    assert f"and {many - SAID} more devices" in warnings[-1]


def test_a_device_is_slow_when_most_of_its_intervals_pass_its_offline_limit() -> None:
    """Counted over all devices at once: em-1 (limit 30 s) with 2 of its 5 intervals past it is
    not named, with 3 of 4 it is (its median, 60 s, said); a device of one row has no
    interval."""
    from gongzhi.devices.registry import parse_registry
    from gongzhi.gateway.backtest.intervals import slow_reporters
    from gongzhi.gateway.backtest.series import series

    registry = parse_registry(REGISTRY)
    limits = {"em-1": 30_000, "em-2": 180_000, "sd-1": 90_000_000}

    def steps(*gaps_s: int) -> list[int]:
        out = [T0]
        for gap in gaps_s:
            out.append(out[-1] + gap * 1000)
        return out

    mostly_on_time = series("em-1", steps(10, 10, 10, 60, 60), power_w=[1.0] * 6)
    mostly_late = series("em-1", steps(10, 60, 60, 60), power_w=[1.0] * 5)
    alone = series("sd-1", [T0], smoke_db_m=[0.01])
    on_time = series("em-2", steps(60, 60, 200), power_w=[1.0] * 4)
    assert slow_reporters(registry, limits, [mostly_on_time, alone, on_time]) == []
    found = slow_reporters(registry, limits, [alone, on_time, mostly_late])
    assert [(r.device_id, r.median_interval_s, r.offline_after_s) for r in found] \
        == [("em-1", 60.0, 30.0)]


def test_devices_without_rows_are_left_out_not_offline(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The registry has em-1, em-2 and sd-1; the input em-2's file, and sd-1's with no row. The
    two others are not replayed as devices never heard of (offline from the first tick): they
    are left out, and said."""
    registry, data = write_inputs(tmp_path)
    (data / "em-1.csv").unlink()
    (data / "sd-1.csv").write_text("ts,smoke_db_m\n")  # a header and no row
    out = tmp_path / "alarms.jsonl"
    assert main(["backtest", "--registry", str(registry), "--input", str(data), "--output",
                 str(out)]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out)["registry_devices_left_out"] == 2
    assert "2 of the registry's 3 devices (first: em-1, sd-1)" in said.err
    assert read_jsonl(out) == []
