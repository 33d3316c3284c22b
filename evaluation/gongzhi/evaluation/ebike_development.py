"""The e-bike rule on the development house alone, for choosing its settings: recall over the
development seeds (each its own random charges), by charger size, and the false alarms of the
house's household-days with their causes, with some of the rule's constants changed for the run.
The rows of ``docs/detection.md``'s development tables that change only constants come from here:

    python -m gongzhi.evaluation.ebike_development --set SIGN_Z=3.0,BLOCK_SIGN_Z=2.5

The held-out house is never read here (``ebike_real`` reports it, once a setting is chosen)."""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gongzhi.core.cli import exit_code
from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.ebike_false import false_alarms
from gongzhi.evaluation.ebike_recall import play_charges
from gongzhi.evaluation.household import DEVELOPMENT, default_data_dir
from gongzhi.gateway.detection.ebike import EbikeChargingDetector

# Declared development seeds (ebike_real's DEVELOPMENT_SEED among them); the report seeds are
# ebike_real's RECALL_SEEDS, on the held-out house.
SEEDS = tuple(range(1, 11))
CHARGES_PER_SEED = 100
LEVEL_BIN_W = 50  # recall by charger size, in bins this wide


def rule_constants() -> dict[str, int | float]:
    """The rule's numeric constants (its settings), by name."""
    return {name: value for name, value in vars(EbikeChargingDetector).items()
            if name.isupper() and isinstance(value, int | float) and not isinstance(value, bool)}


def parse_changes(text: str) -> dict[str, int | float]:
    """``NAME=VALUE,...`` into the constants' own types; an unknown name, a value that is not a
    number, or a fraction for a whole-number constant is a ``ConfigError``."""
    known = rule_constants()
    changes: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise ConfigError(f"{item!r}: not NAME=VALUE for a constant of the rule "
                              f"(one of {', '.join(sorted(known))})")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw.strip()!r} is not a number") from None
        if isinstance(known[name], int):
            if not value.is_integer():
                raise ConfigError(f"{name}: a whole number, not {raw.strip()}")
            changes[name] = int(value)
        else:
            changes[name] = value
    return changes


@contextmanager
def changed_rule(changes: Mapping[str, int | float]) -> Iterator[None]:
    """The rule's constants changed for the block (every detector built in it takes them), put
    back after whatever happens."""
    before = {name: getattr(EbikeChargingDetector, name) for name in changes}
    try:
        for name, value in changes.items():
            setattr(EbikeChargingDetector, name, value)
        yield
    finally:
        for name, value in before.items():
            setattr(EbikeChargingDetector, name, value)


def development_figures(data_dir: Path, changes: Mapping[str, int | float] | None = None, *,
                        seeds: Sequence[int] = SEEDS, per_seed: int = CHARGES_PER_SEED,
                        months: int | None = None) -> dict[str, Any]:
    """Recall over ``seeds`` (``per_seed`` charges each) and the false alarms of the first
    ``months`` month files (all: None), the development house only, with ``changes``."""
    with changed_rule(changes or {}):
        false = false_alarms(data_dir, DEVELOPMENT, months)
        runs = [play_charges(data_dir, DEVELOPMENT, per_seed, seed) for seed in seeds]
    charges = [c for run in runs for c in run.charges]
    found = [c for c in charges if c.found_ms is not None]
    delays = [d for run in runs for d in run.delays_min()]
    by_level: dict[int, list[int]] = {}  # bin's lowest W -> [found, charges]
    for c in charges:
        tally = by_level.setdefault(int(c.charge.level_w) // LEVEL_BIN_W * LEVEL_BIN_W, [0, 0])
        tally[0] += c.found_ms is not None
        tally[1] += 1
    return {"houses": list(DEVELOPMENT), "changes": dict(changes or {}),
            "recall": round(len(found) / len(charges), 3) if charges else None,
            "found": len(found), "charges": len(charges), "seeds": list(seeds),
            "found_per_seed": [sum(c.found_ms is not None for c in run.charges) for run in runs],
            "found_by_level_w": {f"{low}-{low + LEVEL_BIN_W}": f"{f}/{n}"
                                 for low, (f, n) in sorted(by_level.items())},
            "delay_min_p50": round(statistics.median(delays), 1) if delays else None,
            "false_alarms": len(false.alarms), "household_days": round(false.household_days, 1),
            "false_by_appliance": false.by_appliance(),
            "replayed_false_alarms": sum(run.control_alarms for run in runs),
            "replayed_days": round(sum(run.control_days for run in runs), 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gongzhi.evaluation.ebike_development",
        description="The e-bike rule on the development house (recall over the development "
                    "seeds, false alarms with their causes), some of its constants changed for "
                    "the run. Prints one JSON line.")
    parser.add_argument("--set", dest="changes", default="", metavar="NAME=VALUE,...",
                        help="constants of EbikeChargingDetector for this run")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), metavar="SEED",
                        help=f"development seeds (default {SEEDS[0]}-{SEEDS[-1]})")
    parser.add_argument("--charges", type=int, default=CHARGES_PER_SEED,
                        help="charges played per seed")
    parser.add_argument("--months", type=int, default=None,
                        help="only the first month files for the false alarms (default: all)")
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="the shared data directory (household-power, ebike-chargers)")
    args = parser.parse_args(argv)

    def run() -> None:
        figures = development_figures(args.data, parse_changes(args.changes), seeds=args.seeds,
                                      per_seed=args.charges, months=args.months)
        print(json.dumps(figures), flush=True)

    return exit_code(parser.prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
