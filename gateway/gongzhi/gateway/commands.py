"""``gongzhi gateway``: run the MQTT gateway until SIGINT or SIGTERM; SIGHUP reloads the
registry."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.errors import ConfigError
from gongzhi.gateway.platform_client import TokenSource
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.workers import run_supervisor, run_until_signalled, worker_count

GATEWAY_SETTINGS = (
    "data_dir", "mqtt_url", "registry", "sources", "platform_url", "tokens_file", "gateway_token",
    "gateway_id", "gateway_partition", "gateway_group", "gateway_workers", "gateway_subscribe",
    "gateway_worker_mqtt_urls", "http_host", "gateway_http_port",
    "influx_url", "influx_token", "influx_org", "influx_bucket", "influx_spool_max_bytes",
    "log_level",
)


def add_parsers(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gateway",
        help="run the MQTT gateway (ingest, validate, store, detect, forward alarms)",
        description="Subscribe to estate/+/+/+ at QoS 1 with a persistent session, validate and "
                    "store telemetry, detect alarms and deliver them to the platform through an "
                    "on-disk outbox. Serves /metrics, /healthz and /dead-letters on the gateway "
                    "HTTP port. Stops cleanly on SIGINT/SIGTERM; SIGHUP reloads the registry.",
    )
    add_settings_options(parser, *GATEWAY_SETTINGS)
    parser.add_argument("--workers", dest="setting_gateway_workers", metavar="N",
                        help="the same as --gateway-workers: N worker processes, each owning a "
                             "share of the estates, under one supervisor (0: one per CPU core)")
    parser.set_defaults(func=run_gateway)


def set_log_levels(level: str) -> None:
    """The gateway's lines at ``level``; the libraries' chatter at WARNING whatever it is."""
    logging.getLogger().setLevel(level.upper())
    # One INFO line per request would bury the gateway's own lines (a refused credential is
    # logged by the platform client, once per change).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # At DEBUG the compiler logs every pass over every rule it compiles at start: hundreds of
    # thousands of lines, which took a cold start past a minute.
    logging.getLogger("numba").setLevel(logging.WARNING)


def run_gateway(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    set_log_levels(settings.log_level)
    missing = TokenSource(settings.gateway_token, settings.tokens_path).missing_reason()
    if missing is not None:
        raise ConfigError(missing)
    if worker_count(settings) > 1:
        return run_supervisor(settings)
    service = GatewayService(settings)
    run_until_signalled(service.start, service.stop, reload=service.request_reload)
    return 0
