"""``gongzhi demo``: the whole system on embedded defaults, on one machine, without Docker.

A broker (the one named by GONGZHI_MQTT_URL, else one answering on 127.0.0.1:1883, else a
private Mosquitto), the platform with a SQLite store, the gateway with the embedded telemetry
store, and a simulated estate that injects a fault about every half minute. Ctrl-C or SIGTERM
stops every process it started. With ``--mixed`` the estate's buildings come in by different
routes: our MQTT contract, LoRaWAN through ChirpStack 4 and 3, NB-IoT through CTWing's and
OneNET's HTTP pushes, and electrical fire monitors on Modbus, which the gateway takes through
its outside sources: the demo writes their sources file (``<data dir>/sources/``, on free ports
of loopback, the push tokens in files beside it) from the shipped ones for simulated devices
(deploy/sources/; docs/devices.md).

Every GONGZHI_* setting in the environment is handed to the platform and the gateway (a
PostgreSQL store with GONGZHI_DATABASE_URL, a tokens file of your own with GONGZHI_TOKENS_FILE,
created when missing; your own duty rosters with GONGZHI_ROSTERS, else the demo writes an
example one, invented people on no channel, into ``<data dir>/rosters.yaml`` from
deploy/rosters/demo-example.yaml). The few the demo decides itself (the registry of the
simulated estate, the platform's address, plain HTTP on loopback) are refused with the reason
when set.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx

from gongzhi.core.broker import REPO_ROOT, PrivateBroker, free_port, port_answers
from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.demo_routes import MixedRoutes
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import PREFIX, Settings

DEFAULT_DEMO_DIR = Path(".gongzhi") / "demo"
# The duty rosters the demo gives the platform unless GONGZHI_ROSTERS names the user's: invented
# people, fictional numbers, no channels (nothing is sent), one per party and shift.
EXAMPLE_ROSTERS = REPO_ROOT / "deploy" / "rosters" / "demo-example.yaml"
# Settings the demo decides itself: set in the environment, they would be silently replaced.
DEMO_OWNED: dict[str, str] = {
    "registry": "the demo writes the registry of the simulated estate (--estate) into its data "
                "directory",
    "platform_url": "the demo starts its own platform and points the gateway at it",
    "http_tls_cert": "the demo serves plain HTTP on loopback",
    "http_tls_key": "the demo serves plain HTTP on loopback",
}


# Mean real time between two residents' reports at --speed 1.
RESIDENT_INTERVAL_S = 120


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
    parser.add_argument("--mixed", action="store_true",
                        help="buildings come in by different routes: our MQTT contract, "
                             "LoRaWAN through ChirpStack 4 and ChirpStack 3, NB-IoT through "
                             "CTWing and OneNET pushes, fire monitors on Modbus (the gateway's "
                             "outside sources; docs/devices.md)")
    parser.add_argument("--no-simulator", action="store_true",
                        help="start broker, platform and gateway only")
    add_settings_options(parser, "data_dir", "mqtt_url", "http_port", "log_level")
    parser.set_defaults(func=run_demo)


def refuse_demo_owned(environ: Mapping[str, str]) -> None:
    """A ConfigError naming every setting the demo would have to ignore, and why."""
    found = [f"{PREFIX}{name.upper()}: {why}" for name, why in DEMO_OWNED.items()
             if f"{PREFIX}{name.upper()}" in environ]
    if found:
        raise ConfigError("gongzhi demo cannot honour these settings; unset them, or run "
                          "`gongzhi platform` and `gongzhi gateway` yourself:\n  "
                          + "\n  ".join(found))


def tokens_path(settings: Settings, data_dir: Path) -> Path:
    return (settings.tokens_file or data_dir / "tokens.json").resolve()


def rosters_path(settings: Settings, data_dir: Path) -> Path:
    return (settings.rosters or data_dir / "rosters.yaml").resolve()


def write_example_rosters(settings: Settings, data_dir: Path) -> None:
    """The example rosters into the data directory, afresh each run, unless the user named
    their own (then theirs is used as it is)."""
    if settings.rosters is None:
        rosters_path(settings, data_dir).write_text(EXAMPLE_ROSTERS.read_text(encoding="utf-8"),
                                                    encoding="utf-8")


def child_env(environ: Mapping[str, str], settings: Settings, mqtt_url: str, data_dir: Path,
              gateway_port: int) -> dict[str, str]:
    """The environment of every process the demo starts: the caller's (its GONGZHI_* settings
    included) with the demo's own broker, ports, directories and addresses."""
    env = dict(environ)
    env.update({
        "GONGZHI_DATA_DIR": str(data_dir),
        "GONGZHI_MQTT_URL": mqtt_url,
        "GONGZHI_HTTP_PORT": str(settings.http_port),
        "GONGZHI_GATEWAY_HTTP_PORT": str(gateway_port),
        "GONGZHI_PLATFORM_URL": f"http://{local_host(settings)}:{settings.http_port}",
        "GONGZHI_REGISTRY": str(data_dir / "registry.csv"),
        "GONGZHI_TOKENS_FILE": str(tokens_path(settings, data_dir)),
        "GONGZHI_ROSTERS": str(rosters_path(settings, data_dir)),
        "GONGZHI_LOG_LEVEL": settings.log_level,
    })
    return env


def local_host(settings: Settings) -> str:
    """Where this machine reaches the platform: its host, or loopback for a wildcard."""
    return "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host


class StopRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. A KeyboardInterrupt, so that no ``except Exception`` on the
    way swallows it."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``StopRequested`` whatever the demo inherited: a job started in
    the background of a non-interactive shell inherits SIGINT ignored, and Python then never
    turns Ctrl-C into KeyboardInterrupt. Handled signals reset to the default in the children
    (ignored ones would not), so they stop on Ctrl-C too."""
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the demo dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


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
    with stop_on_signals():
        try:
            return _run_demo(args)
        except StopRequested:  # before anything was started
            return 0


def _run_demo(args: argparse.Namespace) -> int:
    explicit_url = args.setting_mqtt_url or os.environ.get("GONGZHI_MQTT_URL")
    if args.setting_data_dir is None and "GONGZHI_DATA_DIR" not in os.environ:
        args.setting_data_dir = str(DEFAULT_DEMO_DIR)
    settings = settings_from_args(args)  # every GONGZHI_* variable parsed: typos are errors
    refuse_demo_owned(os.environ)
    if args.mixed and "GONGZHI_SOURCES" in os.environ:
        raise ConfigError("gongzhi demo --mixed cannot honour GONGZHI_SOURCES: it gives the "
                          "gateway the simulated routes' sources file; unset it")
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)

    broker: PrivateBroker | None = None
    procs: dict[str, subprocess.Popen[bytes]] = {}
    base = f"http://{local_host(settings)}"
    gateway_port = settings.gateway_http_port or free_port()

    def spawn(name: str, env: dict[str, str], *cmd: str) -> None:
        log = (logs / f"{name}.log").open("ab")
        try:
            procs[name] = subprocess.Popen(_gongzhi(*cmd), env=env, stdout=log,
                                           stderr=subprocess.STDOUT,
                                           preexec_fn=_die_with_parent)
        finally:
            log.close()

    try:
        if explicit_url:
            mqtt_url = explicit_url
        elif port_answers("127.0.0.1", 1883):
            mqtt_url = "mqtt://127.0.0.1:1883"
        else:
            broker = PrivateBroker(port=free_port(), workdir=data_dir / "broker")
            broker.start()
            mqtt_url = broker.url
        env = child_env(os.environ, settings, mqtt_url, data_dir, gateway_port)
        tokens = tokens_path(settings, data_dir)
        if not tokens.exists():
            subprocess.run(_gongzhi("tokens", "init", "--out", str(tokens)), env=env,
                           check=True, stdout=subprocess.DEVNULL)
        write_example_rosters(settings, data_dir)
        mixed = MixedRoutes.on_free_ports(data_dir / "sources") if args.mixed else None
        registry = data_dir / "registry.csv"
        subprocess.run(_gongzhi("estate", "registry", "--estate", args.estate,
                                "--out", str(registry),
                                *(mixed.registry_args() if mixed else ())),
                       env=env, check=True, stdout=subprocess.DEVNULL)
        spawn("platform", env, "platform")
        _wait_healthy(f"{base}:{settings.http_port}/healthz", procs, 30)
        spawn("gateway", {**env, "GONGZHI_SOURCES": str(mixed.write_sources(registry))}
              if mixed else env, "gateway")
        # The simulated devices start once the gateway is subscribed: what they published
        # before would reach no subscriber on a first run.
        _wait_healthy(f"http://127.0.0.1:{gateway_port}/readyz", procs, 30)
        if not args.no_simulator:
            start = replay_start(time.time_ns() // 1_000_000, args.speed)
            spawn("simulator", env, "simulate", "--estate", args.estate, "--scenario",
                  args.scenario, "--speed", str(args.speed), "--start", str(start),
                  *(mixed.simulator_args() if mixed else ()))
            # Residents report what they see through their buildings' QR pages.
            spawn("residents", env, "residents", "--interval",
                  f"{max(5, round(RESIDENT_INTERVAL_S / args.speed))}s")
        party_tokens = json.loads(tokens.read_text())
        print(_banner(settings, mqtt_url, tokens, party_tokens, logs, mixed), flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        for name, p in procs.items():
            if p.returncode is not None:
                print(f"gongzhi demo: the {name} exited with {p.returncode}; see {logs}",
                      file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # StopRequested too
        print("\ngongzhi demo: stopping", file=sys.stderr)
        return 0
    finally:
        # A second Ctrl-C must not cut the stopping short and leave processes behind.
        ignored = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            _stop_all(procs)
            if broker is not None:
                broker.stop()
        finally:
            for s, handler in ignored.items():
                signal.signal(s, handler)


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


def without_password(url: str) -> str:
    """``scheme://user@host:port/path``: a URL fit for the terminal and the logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def _banner(settings: Settings, mqtt_url: str, tokens: Path, party_tokens: dict[str, str],
            logs: Path, mixed: MixedRoutes | None = None) -> str:
    # Where the tokens are, never the tokens themselves: this output often ends up in a log.
    base = f"http://{local_host(settings)}:{settings.http_port}"
    store = (without_password(settings.database_url) if settings.database_url
             else f"SQLite in {settings.data_dir.resolve()}")
    return "\n".join([
        "",
        "Gongzhi demo is running (Ctrl-C stops everything).",
        f"  alarm wall (property office):  {base}/",
        f"  police-room console:           {base}/police",
        f"  supervision view:              {base}/supervision",
        f"  residents' QR codes (print):   {base}/reports/qr",
        f"  API docs:                      {base}/docs",
        f"  broker:                        {without_password(mqtt_url)}",
        f"  ticket store:                  {store}",
        f"  party tokens (sign in with):   {tokens}",
        f"    parties: {', '.join(sorted(p for p in party_tokens if p != 'gateway'))}",
        f"  duty rosters:                  {rosters_path(settings, settings.data_dir.resolve())}"
        + ("" if settings.rosters else " (an example: invented people, nothing sent)"),
        *([f"  outside sources (--mixed):     {mixed.sources_file}",
           f"    CTWing push {mixed.push_url('ctwing')}, OneNET push "
           f"{mixed.push_url('onenet')}, Modbus {mixed.modbus_listen}"] if mixed else []),
        f"  logs:                          {logs}",
        "",
    ])
