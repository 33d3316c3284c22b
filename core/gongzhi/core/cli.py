"""The ``gongzhi`` command. Each part of the product registers its own subcommands through a
``add_parsers(subparsers)`` function in its ``commands`` module; this module only assembles them
and translates errors into exit codes.

Only the module of the subcommand being run is imported (``COMMANDS`` says which module that is),
so ``gongzhi platform`` loads no MQTT code and ``gongzhi gateway`` no web framework; the other
subcommands appear in ``gongzhi --help`` by name and summary."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gongzhi.core.errors import ConfigError, GongzhiError
from gongzhi.core.settings import Settings, load_settings

# Each subcommand: the module whose ``add_parsers`` registers it, and its summary for the list.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gongzhi.core.demo", "run broker, platform, gateway and a simulated estate together"),
    "platform": ("gongzhi.hub.commands", "serve the ticket API, server push and the pages"),
    "tokens": ("gongzhi.hub.commands", "manage the parties' API tokens"),
    "report": ("gongzhi.hub.monthly_report.commands",
               "the monthly report of an estate as a PDF (no personal data)"),
    "gateway": ("gongzhi.gateway.commands",
                "run the MQTT gateway (ingest, validate, store, detect, forward alarms)"),
    "simulate": ("gongzhi.simulators.commands",
                 "simulate an estate's devices over MQTT, with scripted faults and ground truth"),
    "estate": ("gongzhi.simulators.commands", "simulated estates: write a registry CSV"),
    "residents": ("gongzhi.simulators.residents_cli",
                  "send simulated residents' reports to a running platform"),
    "devices": ("gongzhi.devices.commands", "device administration: MQTT provisioning"),
    "detect-csv": ("gongzhi.evaluation.analytics.commands",
                   "run the multivariate anomaly detector over recorded CSV files"),
    "backtest": ("gongzhi.gateway.backtest.commands",
                 "run the gateway's detection engine over recorded telemetry"),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))

# Help for the settings options; each also reads GONGZHI_<NAME> (the option wins).
SETTING_HELP: dict[str, str] = {
    "data_dir": "where embedded stores, spools and outboxes keep their files",
    "mqtt_url": "broker address, mqtt://[user:password@]host:port (mqtts:// for TLS)",
    "http_host": "address the HTTP server listens on",
    "http_port": "port the HTTP server listens on",
    "http_tls_cert": "TLS certificate (PEM) of the HTTP server; with --http-tls-key it serves "
                     "HTTPS",
    "http_tls_key": "private key (PEM) of the HTTP server's TLS certificate",
    "trusted_proxies": "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are "
                       "believed: comma-separated addresses or networks (default: none)",
    "database_url": "ticket database: sqlite:///path or postgresql://... (default: SQLite in "
                    "the data directory)",
    "influx_url": "InfluxDB 2 URL; unset: the embedded telemetry store",
    "influx_token": "InfluxDB API token",
    "influx_org": "InfluxDB organisation",
    "influx_bucket": "InfluxDB bucket",
    "influx_spool_max_bytes": "disk bound of the telemetry spool kept while InfluxDB is away; "
                              "past it the oldest points are dropped and counted (alarms never "
                              "pass through it)",
    "registry": "device registry CSV (default: registry.csv in the data directory)",
    "sources": "YAML file of outside sources: LoRaWAN, NB-IoT platforms, Modbus, mapped JSON "
               "(docs/devices.md; default: none)",
    "tokens_file": "party tokens JSON {party_id: token}, or its hashed form from `gongzhi "
                   "tokens hash` (default: tokens.json in the data directory)",
    "duty_matrix": "duty matrix YAML (default: the shipped matrix of the 1+6 model)",
    "platform_url": "where the gateway reaches the platform",
    "gateway_token": "the gateway's token for the platform (default: the tokens file's "
                     "'gateway' entry)",
    "gateway_partition": "this replica's share of estates, INDEX/COUNT (e.g. 0/2)",
    "gateway_group": "MQTT 5 shared-subscription group for load-shared replicas",
    "gateway_id": "this gateway's id: MQTT client id and status topic (default: gateway, or "
                  "gateway-p<INDEX> when partitioned)",
    "gateway_http_port": "port of the gateway's /metrics, /healthz and /dead-letters (0: any "
                         "free port)",
    "gateway_workers": "gateway worker processes on this machine, each owning a share of the "
                       "estates (0: one per CPU core; default 1)",
    "gateway_subscribe": "all: subscribe to every estate (a partitioned replica skips the "
                         "others' messages); owned: only to this replica's estates in the "
                         "registry (the workers' default)",
    "gateway_worker_mqtt_urls": "one MQTT URL per worker, separated by spaces, each with an "
                                "MQTT user of its own (for a broker that makes the user the "
                                "client id); default: every worker uses the MQTT URL",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
}


def add_settings_options(parser: argparse.ArgumentParser, *names: str) -> None:
    group = parser.add_argument_group("settings (each also from the environment)")
    for name in names:
        env = f"GONGZHI_{name.upper()}"
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"setting_{name}",
                           metavar=name.split("_")[-1].upper(),
                           help=f"{SETTING_HELP[name]} [{env}]")


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    return load_settings(**overrides)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser (every command module imported), or with ``command`` only that
    subcommand's module imported and the others listed by name and summary."""
    parser = argparse.ArgumentParser(
        prog="gongzhi",
        description="Gongzhi (共治): IoT safety monitoring and co-governance tickets for "
                    "residential estates.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        if name in sub.choices:
            continue  # registered by its module together with an earlier command
        if command is None or COMMANDS.get(command, ("", ""))[0] == module_name:
            importlib.import_module(module_name).add_parsers(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def chosen_command(argv: Sequence[str]) -> str:
    """The subcommand named in ``argv`` ("" when none is: then only the list is needed)."""
    return next((arg for arg in argv if not arg.startswith("-")), "")


def exit_code(prog: str, run: Callable[[], int | None]) -> int:
    """``run``'s exit code, its errors translated into exit codes (2: configuration, 1: another
    of ours, 130: interrupted) with one line on standard error that ``prog`` begins."""
    try:
        result = run()
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 2
    except GongzhiError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return exit_code(f"gongzhi {args.command}", lambda: args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
