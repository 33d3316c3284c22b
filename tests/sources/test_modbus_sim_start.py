"""A simulated monitor still starting up (``busy_until_set``: no reading from the simulation
yet) answers "device busy", so the gateway's poller, retrying, reads nothing until the first
reading and then that reading, never registers of zeros; and the CLI's push routes name each
carrier's URL and token file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gongzhi.core.cli import main
from gongzhi.devices.modbus_map import load_register_map
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.sources.modbus import ModbusOptions, ModbusSource
from gongzhi.simulators.modbus_server import ModbusSlaveServer
from tests.conftest import free_port
from tests.sources.push_system import source_context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"
READING = {"residual_ma": 30.0, "cable_temp_c": 28.5, "current_a": 4.2, "voltage_v": 221.0,
           "power_w": 900.0}


def test_a_monitor_starting_up_is_busy_until_its_first_reading(tmp_path: Path) -> None:
    rcm = load_register_map(EXAMPLE)
    server = ModbusSlaveServer("127.0.0.1", free_port(), {1: rcm}, busy_until_set=True)
    server.start()
    queue = IngestQueue()
    source = ModbusSource(source_context("monitors", queue, tmp_path),
                          ModbusOptions.model_validate({
                              "host": "127.0.0.1", "port": server.port, "period": 2.0,
                              "timeout": 0.5, "retries": 10, "backoff": 0.5,
                              "maps": {"rcm": rcm}, "slaves": [{"unit": 1, "map": "rcm"}]}))
    try:
        source.start()
        # Busy answers are retried (10 times, 2.5 s at the least): nothing comes, neither
        # zeros nor an offline report.
        assert queue.take(1, timeout_s=1.0) == []
        assert source.slaves[0].online is None
        assert "exception_code=6" in source.slaves[0].last_error  # DEVICE_BUSY
        server.set_reading(1, READING)
        batch = queue.take(1, timeout_s=10.0)
        assert batch, "no reading after the first one was set"
        body = orjson.loads(batch[0].payload)
        assert "status" not in body
        assert {k: round(v, 1) for k, v in body["values"].items()} == READING
    finally:
        source.close()
        server.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--push-url", "http://127.0.0.1:1/a", "--push-url", "http://127.0.0.1:2/b"],
     "--push-url is given twice without a protocol"),
    (["--push-token-file", "ctwing=/nonexistent/token"], "cannot read the push token"),
])
def test_the_push_routes_of_the_cli_are_checked(args: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--estate", "small", "--protocol", "mixed", "--quiet",
                 "--mqtt-url", "mqtt://127.0.0.1:1", *args]) == 2
    assert message in capsys.readouterr().err
