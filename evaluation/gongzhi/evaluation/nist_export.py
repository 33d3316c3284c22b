"""NIST's home fire tests as ``gongzhi backtest`` input, for running the real-fire evaluation
through the command as anyone would: per test, the home's registry (``nist.registry_for``) and one
CSV per room's detector with what it would have reported (``nist.reports``), so that

    python -m gongzhi.evaluation.nist_export OUT
    gongzhi backtest --registry OUT/SDC02/registry.csv --input OUT/SDC02/data --output a.jsonl

gives the alarms ``nist.run_test`` counts (ts: the test's seconds after ``nist.IGNITION_MS``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gongzhi.core.cli import exit_code
from gongzhi.devices.registry import write_registry
from gongzhi.evaluation.household import default_data_dir
from gongzhi.evaluation.nist import (
    IGNITION_MS,
    DetectorModel,
    NistTest,
    device_id,
    nist_files,
    read_test,
    registry_for,
    reports,
)

HEADER = "ts,smoke_db_m,temp_c"


def export_test(test: NistTest, out: Path, model: DetectorModel | None = None) -> Path:
    """``out/<test>/registry.csv`` and ``out/<test>/data/<device_id>.csv``; the test's
    directory."""
    model = model or DetectorModel()
    home = out / test.name
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    write_registry(home / "registry.csv", registry_for(test))
    for room in test.rooms():
        # repr: the shortest text that reads back as the same float.
        lines = [HEADER, *(f"{IGNITION_MS + ts},{smoke!r},{temp!r}"
                           for ts, smoke, temp in reports(test, room, model))]
        (data / f"{device_id(test.name, room)}.csv").write_text("\n".join(lines) + "\n")
    return home


def export_directory(source: Path, out: Path, model: DetectorModel | None = None) -> list[Path]:
    """Every ``NIST_Smoke_Alarms_SDC*.csv`` of ``source``; the tests' directories."""
    return [export_test(read_test(path), out, model) for path in nist_files(source)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gongzhi.evaluation.nist_export",
        description="Write NIST's home fire tests as gongzhi backtest input: per test, "
                    "OUT/<test>/registry.csv and OUT/<test>/data/<device_id>.csv, each room's "
                    "detector as the real-fire evaluation models it.")
    parser.add_argument("out", type=Path, help="where to write")
    parser.add_argument("--data", type=Path,
                        default=default_data_dir() / "nist-smoke-alarms",
                        help="the NIST test files (default: the shared data's)")
    args = parser.parse_args(argv)

    def run() -> None:
        for home in export_directory(args.data, args.out):
            print(home)

    return exit_code(parser.prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
