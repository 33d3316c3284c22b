"""``gongzhi demo --mixed``: the simulated estate's buildings come in by different routes (our
MQTT contract, ChirpStack 4 and 3) and both reach the gateway; everything stops on SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until
from tests.e2e.test_demo import Demo, clean_env


@pytest.mark.integration
def test_a_mixed_demo_takes_every_route(tmp_path: Path, broker: Broker) -> None:
    data = tmp_path / "demo"
    gateway = free_port()
    env = {**clean_env(), "GONGZHI_GATEWAY_HTTP_PORT": str(gateway)}
    demo = Demo("--estate", "small", "--mixed", "--speed", "20", "--data-dir", str(data),
                "--mqtt-url", broker.url, "--http-port", str(free_port()), env=env)
    try:
        registry = data / "registry.csv"
        wait_until(registry.exists, 60, "the demo's registry")
        assert "external_id" in registry.read_text().splitlines()[0].split(",")

        def gateway_figures() -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{gateway}/metrics", timeout=2).text
            except httpx.HTTPError:
                return ""

        def both_routes() -> bool:
            text = gateway_figures()
            accepted = [line for line in text.splitlines() if line.startswith(
                'gongzhi_gateway_source_messages_accepted_total{source="lorawan"}')]
            processed = [line for line in text.splitlines()
                         if line.startswith("gongzhi_gateway_messages_processed_total ")]
            return bool(accepted and float(accepted[0].split()[-1]) > 0 and processed
                        and float(processed[0].split()[-1]) > float(accepted[0].split()[-1]))

        wait_until(both_routes, 90, "messages by both routes")
        assert json.loads((data / "tokens.json").read_text())
        assert demo.stop(signal.SIGTERM) == 0, demo.output[-3000:]
    finally:
        demo.kill_group()
