"""The README's first command, ``gongzhi demo``, as a user runs it: broker, platform, gateway and
a simulated estate come up, tickets reach the alarm wall's API, Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gongzhi.core.demo import replay_start
from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until

NOW = 1_800_000_000_000
MINUTE = 60_000


@pytest.mark.parametrize(("speed", "start"), [
    (1.0, NOW),                          # real time: now
    (0.5, NOW),                          # slower than real time: now
    (20.0, NOW - 100 * MINUTE),          # five real minutes of replay at 20x
    (288.0, NOW - 24 * 60 * MINUTE),     # exactly a day in five minutes
    (1440.0, NOW - 24 * 60 * MINUTE),    # at most a day
])
def test_a_fast_demo_replays_the_recent_past(speed: float, start: int) -> None:
    assert replay_start(NOW, speed) == start


@pytest.mark.integration
def test_demo_brings_tickets_to_the_wall_and_stops_cleanly(tmp_path: Path,
                                                           broker: Broker) -> None:
    port = free_port()
    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gongzhi.core.cli", "demo", "--estate", "small",
         "--speed", "20", "--data-dir", str(data), "--mqtt-url", broker.url,
         "--http-port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        tokens = data / "tokens.json"
        wait_until(tokens.exists, 60, "the demo's tokens")
        office = json.loads(tokens.read_text())["property_office"]

        def tickets() -> list[dict[str, object]]:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/tickets",
                              headers={"Authorization": f"Bearer {office}"}, timeout=2)
            except httpx.HTTPError:
                return []
            body = r.json() if r.status_code == 200 else []
            return list(body["tickets"] if isinstance(body, dict) else body)

        # A fault about every 30 simulated seconds, 20 times real time.
        found = wait_until(tickets, 60, "a ticket from the simulated estate")
        assert {t["location"]["estate_id"] for t in found} == {"small"}
        wall = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert wall.status_code == 200 and "<html" in wall.text.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "alarm wall (property office)" in text and "stopping" in text
    assert office not in text  # the banner names the tokens' file, never a token
    for name in ("platform", "gateway", "simulator"):
        assert (data / "logs" / f"{name}.log").stat().st_size > 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
