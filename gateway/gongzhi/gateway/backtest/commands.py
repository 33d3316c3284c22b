"""``gongzhi backtest``: the gateway's detection engine over recorded data; what a rule or
registry change would have raised, before it is deployed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gongzhi.core.errors import ConfigError

SAID = 5  # devices named on standard error in a warning (the summary counts them all)


def add_parsers(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backtest",
        help="run the gateway's detection engine over recorded telemetry",
        description="Replay recorded telemetry through the gateway's own detection engine (its "
                    "rules, configuration and the registry's per-device settings), time "
                    "advancing with the data. Input: a directory of <device_id>.csv files "
                    "(header: ts in epoch ms, then metric names of the device's type; an empty "
                    "cell is a metric not reported), or the embedded telemetry store "
                    "(--from-store) or InfluxDB (--source influx) for a time range. Writes one "
                    "JSON line per alarm state change to --output and prints one JSON summary "
                    "line.",
    )
    parser.add_argument("--registry", required=True, type=Path, metavar="REGISTRY.csv",
                        help="device registry (types, groups, per-device settings)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="DIR",
                        help="directory of <device_id>.csv files")
    source.add_argument("--from-store", type=Path, metavar="TELEMETRY.db",
                        help="the gateway's embedded telemetry store (<data_dir>/telemetry.db)")
    source.add_argument("--source", choices=["influx"],
                        help="influx: the InfluxDB the settings name (GONGZHI_INFLUX_URL, "
                             "_TOKEN, _ORG, _BUCKET)")
    parser.add_argument("--devices", metavar="ID,ID,...",
                        help="with a store: only these devices (default: the registry's)")
    parser.add_argument("--since", "--from", dest="since", type=int, metavar="MS",
                        help="with a store: from this time (epoch ms, inclusive)")
    parser.add_argument("--until", "--to", dest="until", type=int, metavar="MS",
                        help="with a store: to this time (epoch ms, exclusive)")
    parser.add_argument("--output", required=True, type=Path, metavar="ALARMS.jsonl",
                        help="where to write the alarms (one JSON object per line)")
    parser.set_defaults(func=run_backtest)


def run_backtest(args: argparse.Namespace) -> int:
    from gongzhi.devices.registry import Registry, load_registry
    from gongzhi.gateway.backtest.csv_input import read_directory
    from gongzhi.gateway.backtest.output import write_alarms
    from gongzhi.gateway.backtest.replay import Replay
    from gongzhi.gateway.backtest.store_input import read_influx, read_store

    registry = load_registry(args.registry)
    if args.input is not None:
        if args.devices or args.since is not None or args.until is not None:
            raise ConfigError("--devices, --since and --until go with a store")
        series = read_directory(args.input, registry)
    else:
        devices = ([d.strip() for d in args.devices.split(",") if d.strip()]
                   if args.devices else None)
        if args.source == "influx":
            from gongzhi.core.settings import load_settings

            series = read_influx(load_settings(), registry, devices, args.since, args.until)
        else:
            series = read_store(args.from_store, registry, devices, args.since, args.until)
    # The devices recorded: a device of the registry without rows would be "never heard of",
    # offline from the first tick (and with others of its building a cluster), which says
    # nothing about the recording. They are left out, and counted.
    series = [s for s in series if len(s)]
    recorded = {s.device_id for s in series}
    replay = Replay(Registry(r for r in registry if r.device_id in recorded))
    left_out = [r.device_id for r in registry if r.device_id not in recorded]
    replay.summary.left_out = len(left_out)
    if left_out:
        print(f"gongzhi backtest: left out of the replay, no rows in the input: "
              f"{len(left_out)} of the registry's {len(registry)} devices (first: "
              f"{', '.join(left_out[:SAID])})", file=sys.stderr)
    slow = replay.check(series)
    for reporter in slow[:SAID]:
        print(f"gongzhi backtest: warning: {reporter.message()}", file=sys.stderr)
    if len(slow) > SAID:
        print(f"gongzhi backtest: warning: and {len(slow) - SAID} more devices report less "
              "often than their offline limit (the summary lists them)", file=sys.stderr)
    write_alarms(args.output, replay.run(series))
    print(json.dumps(replay.summary.to_dict()), file=sys.stdout, flush=True)
    return 0
