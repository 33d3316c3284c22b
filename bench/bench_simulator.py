"""Simulator benchmark: how many messages one simulator process sustains for the district
estate (~106,000 devices) in multiplexed mode, against a private Mosquitto started from
deploy/mosquitto/dev.conf (no subscribers: the broker only takes the messages).

Lines (one JSON object each):
- ``paho_publish_baseline_msgs_per_s``: a bare paho client publishing one pre-formatted
  telemetry payload in a loop, with the simulator's paho settings (no in-flight limit, a
  queue of 1,000) and the same QoS: the transport's ceiling for one Python process.
- ``simulator_generation_msgs_per_s``: the simulation alone (signals, faults, payloads), no
  network: what the models cost.
- ``simulator_msgs_per_s``: the whole simulator (generation + publishing with back-pressure),
  QoS 1 telemetry and status (the default), run as fast as it goes; ``ratio_to_baseline``
  compares it with the bare paho loop at the same QoS. ``simulator_msgs_per_s_qos0`` likewise
  at QoS 0. The first 10 simulated seconds carry each device's ``online`` status
  besides its telemetry (devices announce themselves before their first report).
The goal is 100,000 devices reporting every 10 s: 10,000 msg/s. About 30-40 s in all.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gongzhi.core.clock import SystemClock  # noqa: E402
from gongzhi.core.settings import parse_mqtt_url  # noqa: E402
from gongzhi.simulators.engine import SimulationEngine  # noqa: E402
from gongzhi.simulators.estate import load_estate_file  # noqa: E402
from gongzhi.simulators.layout import build_layout  # noqa: E402
from gongzhi.simulators.runner import RunOptions, run_simulation  # noqa: E402
from gongzhi.simulators.scenario import load_scenario  # noqa: E402
from tests.conftest import make_broker  # noqa: E402  (the tests' private-broker helper)

ESTATE = "district"
DAY_MS = 86_400_000
PAYLOAD = (b'{"ts":1767225600000,"seq":12345,"values":{"residual_ma":42.9,"cable_temp_c":27.2,'
           b'"current_a":0.46,"voltage_v":219.7,"power_w":94}}')


def emit(name: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 1), "unit": unit, **context}),
          flush=True)


def paho_baseline(port: int, qos: int, seconds: float) -> float:
    """Publish the same kind of payload on 1,000 device topics as fast as paho goes."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"baseline-{qos}")
    client.max_queued_messages_set(1_000)
    client.max_inflight_messages_set(0)
    client.connect("127.0.0.1", port)
    while not client.is_connected():
        client.loop(0.05)
    topics = [f"estate/bench/dev-{i}/telemetry" for i in range(1_000)]
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for topic in topics:
            while client.publish(topic, PAYLOAD, qos).rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                client.loop(0.01)
            sent += 1
        client.loop(0)
    while client.want_write() or client._out_messages:  # drain and collect the acks
        client.loop(0.01)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop(0.1)
    return sent / elapsed


def generation_rate(seconds: float) -> tuple[float, int]:
    layout = build_layout(load_estate_file(ESTATE), 0)
    now = SystemClock().now_ms()
    engine = SimulationEngine(layout, load_scenario("quiet"), now - DAY_MS, 0, SystemClock())
    engine.advance(now - DAY_MS)  # the initial statuses
    produced = 0
    start = time.perf_counter()
    t = now - DAY_MS
    while time.perf_counter() - start < seconds:
        t += 10_000
        produced += len(engine.advance(t))
    return produced / (time.perf_counter() - start), len(layout.devices)


def simulator_rate(url: str, qos: int, seconds: float) -> tuple[float, dict[str, Any]]:
    now = SystemClock().now_ms()
    options = RunOptions(estate=ESTATE, scenario="demo", speed=float("inf"),
                         duration_ms=DAY_MS, start_ms=now - DAY_MS, seed=0,
                         mode="multiplexed", connections=4, telemetry_qos=qos, progress=False,
                         wall_limit_s=seconds)
    cpu0 = time.process_time()
    summary = run_simulation(options, parse_mqtt_url(url))
    cpu = time.process_time() - cpu0
    context = {
        "qos": qos,
        "devices": summary.devices,
        "connections": summary.connections,
        "published": summary.published,
        "wall_s": round(summary.wall_s, 1),
        "simulated_s": round((summary.sim_end_ms - summary.sim_start_ms) / 1000),
        "backpressure_waits": summary.waits,
        "process_cpu_s": round(cpu, 1),
        "all_acknowledged": summary.flushed,
    }
    return summary.rate, context


def main() -> None:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-sim-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    broker = make_broker(tmp)
    broker.start()
    machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    try:
        base1 = paho_baseline(broker.port, 1, 3.0)
        note = "a plain publish loop; the simulator corks its sockets per batch"
        emit("paho_publish_baseline_msgs_per_s", base1, "msg/s", qos=1, note=note, **machine)
        base0 = paho_baseline(broker.port, 0, 3.0)
        emit("paho_publish_baseline_msgs_per_s", base0, "msg/s", qos=0, note=note, **machine)
        gen, devices = generation_rate(3.0)
        emit("simulator_generation_msgs_per_s", gen, "msg/s", estate=ESTATE, devices=devices,
             note="signals, faults and payloads only, no network", **machine)
        rate1, ctx1 = simulator_rate(broker.url, 1, 10.0)
        emit("simulator_msgs_per_s", rate1, "msg/s", estate=ESTATE, mode="multiplexed",
             ratio_to_baseline=round(rate1 / base1, 2), goal_msgs_per_s=10_000,
             goal_met=rate1 >= 10_000, **ctx1, **machine)
        rate0, ctx0 = simulator_rate(broker.url, 0, 8.0)
        emit("simulator_msgs_per_s_qos0", rate0, "msg/s", estate=ESTATE, mode="multiplexed",
             ratio_to_baseline=round(rate0 / base0, 2), **ctx0, **machine)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
