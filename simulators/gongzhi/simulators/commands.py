"""``gongzhi simulate`` and ``gongzhi estate registry``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.config_kit import parse_duration, to_ms
from gongzhi.core.errors import ConfigError
from gongzhi.core.stopping import SignalledStop
from gongzhi.devices.registry import Registry, write_registry
from gongzhi.simulators.estate import load_estate_file
from gongzhi.simulators.layout import build_layout, write_estate_registry
from gongzhi.simulators.protocols import Route, load_encoder, protocol_names, with_external_ids

log = logging.getLogger(__name__)

ESTATE_HELP = ("estate to simulate: a shipped name (small ~50 devices, demo ~1,000, district "
               "~100,000) or the path of an estate YAML file")
SCENARIO_HELP = ("faults to inject: a shipped name (quiet, demo, day, all-faults, protocol) or "
                 "the path of a scenario YAML file")


def add_parsers(subparsers: Any) -> None:
    _add_simulate(subparsers)
    _add_estate(subparsers)


def _add_simulate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate an estate's devices over MQTT, with scripted faults and ground truth",
        description=(
            "Publish telemetry, events and status for every device of an estate to "
            "estate/<estate_id>/<device_id>/<channel>, with the faults of a scenario, and "
            "write the ground truth of what was injected. Timestamps are simulated time. "
            "The simulated clock never runs ahead of the real one (the gateway refuses "
            "timestamps in the future): with --speed above 1 and no --start it starts "
            "--duration before now, so a run ends at about the present; once it reaches the "
            "present it goes on at real time."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--estate", default="demo", help=ESTATE_HELP)
    p.add_argument("--scenario", default="demo", help=SCENARIO_HELP)
    p.add_argument("--speed", default="1", type=_speed,
                   help="simulated seconds per real second: 1 is real time, 1440 runs a day in "
                        "a minute; 'max' runs as fast as the broker takes messages")
    p.add_argument("--duration", default=None, type=_duration_ms, metavar="D",
                   help="simulated time to run (e.g. 90s, 15m, 6h, 1d; a bare number is "
                        "seconds); the run takes D/speed of real time. Default: until stopped")
    p.add_argument("--start", default=None, metavar="TIME",
                   help="simulated start: ISO-8601 (2026-03-01T08:00:00+08:00) or epoch ms. "
                        "Default: now, or now minus --duration when --speed is above 1")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of every random choice (household flags, signals, faults): the "
                        "same seed, estate and scenario give the same messages")
    p.add_argument("--ground-truth", type=Path, default=None, metavar="OUT",
                   help="write the injected faults here as JSON lines (fault kind, devices, "
                        "start and end, the ticket expected or none); default: "
                        "ground-truth.jsonl in the data directory, replaced at each run")
    p.add_argument("--registry", type=Path, default=None, metavar="OUT",
                   help="write the estate's registry CSV here before publishing")
    p.add_argument("--mode", choices=("auto", "per-device", "multiplexed"), default="auto",
                   help="per-device: one MQTT connection per device with its own client id "
                        "and a last will (small estates); multiplexed: a few connections carry "
                        "all devices, as NB-IoT vendor platforms forward; auto: per-device up "
                        "to 256 devices")
    p.add_argument("--connections", type=int, default=4,
                   help="connections in multiplexed mode")
    p.add_argument("--protocol", choices=protocol_names(), default="native",
                   help="how the devices reach the gateway: native (our MQTT contract), "
                        "chirpstack-v3 / chirpstack-v4 (LoRaWAN through a ChirpStack network "
                        "server's MQTT integration, on the same broker), and the other routes "
                        "docs/devices.md describes; the registry written by --registry then "
                        "carries each device's external_id")
    p.add_argument("--push-url", action="append", default=[], metavar="[PROTOCOL=]URL",
                   help="ctwing / onenet: the gateway's push URL of that source (e.g. "
                        "http://127.0.0.1:8090/ctwing); the simulated carrier platform POSTs "
                        "there. mixed: once per carrier, as ctwing=URL and onenet=URL")
    p.add_argument("--push-token-file", action="append", default=[],
                   metavar="[PROTOCOL=]PATH",
                   help="onenet: the file holding the push instance's token (signs pushes); "
                        "ctwing: the token the push URL carries, if the source wants one. "
                        "mixed: as ctwing=PATH and onenet=PATH")
    p.add_argument("--modbus-listen", default="127.0.0.1:5020", metavar="HOST:PORT",
                   help="modbus, mixed: where the simulated monitors' Modbus TCP server listens")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1,
                   help="QoS of telemetry and status messages (events always use QoS 1; "
                        "the last will is QoS 1)")
    p.add_argument("--quiet", action="store_true",
                   help="no live progress line (the summary is still printed)")
    add_settings_options(p, "mqtt_url", "data_dir")
    p.set_defaults(func=_run_simulate)


def _add_estate(subparsers: Any) -> None:
    p = subparsers.add_parser("estate", help="simulated estates: write a registry CSV",
                              description="Tools for the simulated estates.")
    sub = p.add_subparsers(dest="estate_command", metavar="ACTION", required=True)
    reg = sub.add_parser(
        "registry",
        help="write the registry CSV of an estate",
        description="Write the device registry CSV (docs/contract.md) of an estate, the same "
                    "one `gongzhi simulate` uses for the same estate and seed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    reg.add_argument("--estate", default="demo", help=ESTATE_HELP)
    reg.add_argument("--out", type=Path, required=True, help="where to write the CSV")
    reg.add_argument("--seed", type=int, default=0,
                     help="seed of the household flags (elderly_alone) and phone numbers")
    reg.add_argument("--protocol", choices=protocol_names(), default="native",
                     help="the route of `gongzhi simulate --protocol`: each device's "
                          "external_id is that route's")
    reg.add_argument("--modbus-listen", default="127.0.0.1:5020", metavar="HOST:PORT",
                     help="modbus, mixed: the Modbus server's address of `gongzhi simulate "
                          "--modbus-listen` (the monitors' external ids name it)")
    reg.set_defaults(func=_run_registry)


def _speed(text: str) -> float:
    if text.strip().lower() == "max":
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (a number or 'max')") \
            from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the speed must be above 0")
    return value


def _duration_ms(text: str) -> int:
    try:
        value = to_ms(parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be above 0")
    return value


def _run_registry(args: argparse.Namespace) -> int:
    if args.protocol == "native":
        registry = write_estate_registry(args.estate, args.out, args.seed)
    else:
        records = [d.record for d in build_layout(load_estate_file(args.estate),
                                                   args.seed).devices]
        encoder = load_encoder(args.protocol, records, args.seed,
                               Route(modbus_listen=args.modbus_listen))
        registry = Registry(with_external_ids(encoder, records))
        write_registry(args.out, registry)
    print(f"wrote {len(registry)} devices of {', '.join(registry.estates())} to {args.out}")
    return 0


PUSH_PROTOCOLS = ("ctwing", "onenet")


def _per_protocol(values: list[str], option: str) -> tuple[str | None, dict[str, str]]:
    """``[PROTOCOL=]VALUE`` options: (the one without a protocol, those with one)."""
    common: str | None = None
    named: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name in PUSH_PROTOCOLS:
            named[name] = rest
        elif common is None:
            common = value
        else:
            raise ConfigError(f"{option} is given twice without a protocol; name each as "
                              f"PROTOCOL=VALUE ({', '.join(PUSH_PROTOCOLS)})")
    return common, named


def _route(args: argparse.Namespace) -> Route:
    url, urls = _per_protocol(args.push_url, "--push-url")
    token_file, token_files = _per_protocol(args.push_token_file, "--push-token-file")
    return Route(push_url=url,
                 push_token=_read_token(Path(token_file)) if token_file else None,
                 modbus_listen=args.modbus_listen, push_urls=urls,
                 push_tokens={n: _read_token(Path(f)) for n, f in token_files.items()})


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the push token: {exc.strerror}", source=str(path)) \
            from None
    if not token:
        raise ConfigError("the push token file is empty", source=str(path))
    return token


def _run_simulate(args: argparse.Namespace) -> int:
    from gongzhi.simulators.runner import RunOptions, parse_start, run_simulation

    settings = settings_from_args(args)
    if args.connections < 1:
        raise ConfigError("--connections must be at least 1")
    if args.speed > 1 and args.duration is None and args.start is None:
        log.warning("--speed %s without --duration or --start: the simulated clock starts now "
                    "and never runs ahead of the present, so it goes at real time",
                    args.speed)
    ground_truth = args.ground_truth or settings.data_dir / "ground-truth.jsonl"
    options = RunOptions(
        estate=args.estate,
        scenario=args.scenario,
        speed=args.speed,
        duration_ms=args.duration,
        start_ms=parse_start(args.start) if args.start else None,
        seed=args.seed,
        ground_truth=ground_truth,
        registry_out=args.registry,
        protocol=args.protocol,
        route=_route(args),
        mode=args.mode,
        connections=args.connections,
        telemetry_qos=args.qos,
        progress=not args.quiet,
    )
    # `gongzhi demo` and service managers stop us with SIGTERM: finish cleanly (flush, summary).
    with SignalledStop(signal.SIGTERM) as stop:
        summary = run_simulation(options, settings.mqtt, stop=stop)
        print(summary.render(), file=sys.stderr)
    return 0
