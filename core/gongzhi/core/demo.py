"""``gongzhi demo``: the whole system on embedded defaults, on one machine, without Docker.

A broker (the one named by GONGZHI_MQTT_URL, else one answering on 127.0.0.1:1883, else a
private Mosquitto), the platform with a SQLite store, the gateway with the embedded telemetry
store, and a simulated estate that injects a fault about every half minute. Ctrl-C stops every
process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gongzhi.core.broker import PrivateBroker, free_port, port_answers
from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import Settings

DEFAULT_DEMO_DIR = Path(".gongzhi") / "demo"


def add_parsers(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run broker, platform, gateway and a simulated estate together",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--estate", default="demo",
                        help="estate to simulate: a shipped name (small, demo, district) or a "
                             "YAML file (default: demo, ~1,000 devices)")
    parser.add_argument("--scenario", default="demo",
                        help="fault scenario: a shipped name or a YAML file (default: demo, a "
                             "fault about every 30 s)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (default: 1, real time). Above "
                             "1 the simulation replays the recent past (up to a day, about five "
                             "minutes of real time) at that speed, then goes on in real time: "
                             "device clocks never run ahead of the present")
    parser.add_argument("--no-simulator", action="store_true",
                        help="start broker, platform and gateway only")
    add_settings_options(parser, "data_dir", "mqtt_url", "http_port", "log_level")
    parser.set_defaults(func=run_demo)


def _child_env(settings: Settings, mqtt_url: str, data_dir: Path, gateway_port: int
               ) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}
    env.update({
        "GONGZHI_DATA_DIR": str(data_dir),
        "GONGZHI_MQTT_URL": mqtt_url,
        "GONGZHI_HTTP_PORT": str(settings.http_port),
        "GONGZHI_GATEWAY_HTTP_PORT": str(gateway_port),
        "GONGZHI_PLATFORM_URL": f"http://127.0.0.1:{settings.http_port}",
        "GONGZHI_REGISTRY": str(data_dir / "registry.csv"),
        "GONGZHI_TOKENS_FILE": str(data_dir / "tokens.json"),
        "GONGZHI_LOG_LEVEL": settings.log_level,
    })
    return env


def _gongzhi(*args: str) -> list[str]:
    return [sys.executable, "-m", "gongzhi.core.cli", *args]


REPLAY_REAL_MS = 5 * 60_000
REPLAY_MAX_MS = 24 * 3_600_000


def replay_start(now_ms: int, speed: float) -> int:
    """Where a demo's simulated clock starts: now at real time; faster, far enough back that
    the fast part lasts about ``REPLAY_REAL_MS`` of real time (at most a day simulated)."""
    if speed <= 1:
        return now_ms
    return now_ms - min(round(speed * REPLAY_REAL_MS), REPLAY_MAX_MS)


def _wait_healthy(url: str, procs: dict[str, subprocess.Popen[bytes]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                raise ConfigError(f"the {name} exited with {p.returncode} while starting")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ConfigError(f"{url} did not become healthy in {timeout_s:.0f} s")


def run_demo(args: argparse.Namespace) -> int:
    explicit_url = args.setting_mqtt_url or os.environ.get("GONGZHI_MQTT_URL")
    if args.setting_data_dir is None and "GONGZHI_DATA_DIR" not in os.environ:
        args.setting_data_dir = str(DEFAULT_DEMO_DIR)
    settings = settings_from_args(args)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)

    broker: PrivateBroker | None = None
    if explicit_url:
        mqtt_url = explicit_url
    elif port_answers("127.0.0.1", 1883):
        mqtt_url = "mqtt://127.0.0.1:1883"
    else:
        broker = PrivateBroker(port=free_port(), workdir=data_dir / "broker")
        broker.start()
        mqtt_url = broker.url

    gateway_port = settings.gateway_http_port or free_port()
    env = _child_env(settings, mqtt_url, data_dir, gateway_port)
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, *cmd: str) -> None:
        log = (logs / f"{name}.log").open("ab")
        try:
            procs[name] = subprocess.Popen(_gongzhi(*cmd), env=env, stdout=log,
                                           stderr=subprocess.STDOUT)
        finally:
            log.close()

    try:
        tokens = data_dir / "tokens.json"
        if not tokens.exists():
            subprocess.run(_gongzhi("tokens", "init", "--out", str(tokens)), env=env,
                           check=True, stdout=subprocess.DEVNULL)
        subprocess.run(_gongzhi("estate", "registry", "--estate", args.estate,
                                "--out", str(data_dir / "registry.csv")),
                       env=env, check=True, stdout=subprocess.DEVNULL)
        spawn("platform", "platform")
        _wait_healthy(f"http://127.0.0.1:{settings.http_port}/healthz", procs, 30)
        spawn("gateway", "gateway")
        # The simulated devices start once the gateway is subscribed: what they published
        # before would reach no subscriber on a first run.
        _wait_healthy(f"http://127.0.0.1:{gateway_port}/readyz", procs, 30)
        if not args.no_simulator:
            start = replay_start(time.time_ns() // 1_000_000, args.speed)
            spawn("simulator", "simulate", "--estate", args.estate, "--scenario",
                  args.scenario, "--speed", str(args.speed), "--start", str(start))
        party_tokens = json.loads(tokens.read_text())
        print(_banner(settings, mqtt_url, tokens, party_tokens, logs), flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        for name, p in procs.items():
            if p.returncode is not None:
                print(f"gongzhi demo: the {name} exited with {p.returncode}; see {logs}",
                      file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ngongzhi demo: stopping", file=sys.stderr)
        return 0
    finally:
        _stop_all(procs)
        if broker is not None:
            broker.stop()


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    # One at a time, simulator first and platform last, so the gateway can still hand its last
    # alarms to the platform before that stops.
    for p in reversed(procs.values()):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _banner(settings: Settings, mqtt_url: str, tokens: Path, party_tokens: dict[str, str],
            logs: Path) -> str:
    # Where the tokens are, never the tokens themselves: this output often ends up in a log.
    base = f"http://127.0.0.1:{settings.http_port}"
    return "\n".join([
        "",
        "Gongzhi demo is running (Ctrl-C stops everything).",
        f"  alarm wall (property office):  {base}/",
        f"  police-room console:           {base}/police",
        f"  supervision view:              {base}/supervision",
        f"  API docs:                      {base}/docs",
        f"  broker:                        {mqtt_url}",
        f"  party tokens (sign in with):   {tokens}",
        f"    parties: {', '.join(sorted(p for p in party_tokens if p != 'gateway'))}",
        f"  logs:                          {logs}",
        "",
    ])
