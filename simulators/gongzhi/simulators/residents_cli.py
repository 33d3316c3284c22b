"""``gongzhi residents``: a stream of residents' reports to a running platform (the demo's)."""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.config_kit import parse_duration
from gongzhi.core.errors import ConfigError
from gongzhi.core.stopping import SignalledStop

log = logging.getLogger(__name__)


def add_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "residents", help="send simulated residents' reports to a running platform",
        description="Residents of the registry's estates report hazards through the platform's "
                    "report API at random intervals, as the QR page does. The building links "
                    "come from the platform's QR sheet, read with the property office's token "
                    "from the tokens file.")
    p.add_argument("--interval", default="90s", type=_interval,
                   help="mean real time between reports (e.g. 30s, 2m)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--count", type=int, default=None,
                   help="stop after this many accepted reports (default: until stopped)")
    add_settings_options(p, "data_dir", "platform_url", "tokens_file", "registry")
    p.set_defaults(func=run_residents)


def _interval(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the interval must be above zero")
    return seconds


def run_residents(args: argparse.Namespace) -> int:
    import httpx

    from gongzhi.devices.registry import load_registry
    from gongzhi.simulators.residents import plan, run

    settings = settings_from_args(args)
    tokens = json.loads(settings.tokens_path.read_text(encoding="utf-8"))
    office = tokens.get("property_office")
    if not office:
        raise ConfigError("the tokens file has no property_office token",
                          source=str(settings.tokens_path))
    estates = load_registry(settings.registry_path).estates()
    with SignalledStop(signal.SIGTERM) as stop, \
            httpx.Client(base_url=settings.platform_url, timeout=30) as http:
        links: list[str] = []
        for estate in estates:
            answer = http.get("/api/reports/qr-codes", params={"estate": estate},
                              headers={"Authorization": f"Bearer {office}"})
            answer.raise_for_status()
            links += [c["url"].rsplit("/r/", 1)[1] for c in answer.json()["codes"]]
        if not links:
            raise ConfigError("no buildings in the registry", source=str(settings.registry_path))

        def post(token: str, device: str,
                 body: dict[str, Any]) -> tuple[int, dict[str, Any], float | None]:
            answer = http.post("/api/reports", json=body,
                               headers={"X-Gongzhi-Building": token,
                                        "Cookie": f"gz_rdev={device}"})
            retry = answer.headers.get("Retry-After")
            return answer.status_code, answer.json(), float(retry) if retry else None

        log.info("residents of %d buildings report every %.0f s on average", len(links),
                 args.interval)
        try:
            made = run(plan(random.Random(args.seed), links, mean_interval_s=args.interval),
                       post, stop, count=args.count)
        except KeyboardInterrupt:
            return 0
        log.info("%d reports made", made)
    return 0
