"""The monthly report's benchmark: ``report_pdf_s``, the time ``gongzhi report`` takes to read a
month of a 1,000-device estate from the platform's store (SQLite) and write its PDF, charts and
all; ``report_cli_s`` is the whole command as a process (Python's start and imports included).

The month is seeded once through the real ticket service on a manual clock
(``tests/reports/month_support.py``: about 300 device alarms of the usual kinds, their
acknowledgements, resolutions and escalations, welfare checks, about 90 residents' reports with
ratings), then each figure is the median of ``ROUNDS`` runs, with min and max. One JSON object
per line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gongzhi.devices.registry import Registry, write_registry  # noqa: E402
from gongzhi.hub.duty_parse import load_matrix  # noqa: E402
from gongzhi.hub.monthly_report.load import load_month  # noqa: E402
from gongzhi.hub.monthly_report.pdf import render_pdf  # noqa: E402
from gongzhi.hub.monthly_report.period import parse_month  # noqa: E402
from gongzhi.hub.store import open_store  # noqa: E402
from tests.reports.month_support import flats_registry, seed_month  # noqa: E402  (the tests' seeder)

ROUNDS = 3
DEVICES = 1000
ESTATE = "yijing"
MONTH = "2026-11"


def emit(name: str, runs: list[float], unit: str, **extra: object) -> None:
    print(json.dumps({"name": name, "value": round(statistics.median(runs), 3), "unit": unit,
                      "min": round(min(runs), 3), "max": round(max(runs), 3),
                      "runs": len(runs), **extra}), flush=True)


def main() -> int:
    print(json.dumps({"name": "load_average_1m", "value": os.getloadavg()[0], "unit": ""}),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        directory = Path(tmp)
        records = flats_registry(ESTATE, DEVICES)
        write_registry(directory / "registry.csv", records)
        url = f"sqlite:///{directory / 'platform.db'}"
        matrix = load_matrix(None)
        month = parse_month(MONTH, matrix.timezone)
        store = open_store(url)
        began = time.perf_counter()
        try:
            store.migrate()
            seeded = seed_month(store, matrix, Registry(records), ESTATE, month)
        finally:
            store.close()
        seed_s = time.perf_counter() - began
        data = {"devices": DEVICES, "tickets": seeded.tickets, "reports": seeded.reports,
                "store": "sqlite"}
        runs = []
        for round_ in range(ROUNDS):
            output = directory / f"report-{round_}.pdf"
            began = time.perf_counter()
            store = open_store(url)
            try:
                figures = load_month(store, ESTATE, month, month.end_ms)
            finally:
                store.close()
            render_pdf(figures, output)
            runs.append(time.perf_counter() - began)
        pages = (directory / "report-0.pdf").read_bytes().count(b"/Type /Page\n")
        emit("report_pdf_s", runs, "s", **data, pdf_bytes=output.stat().st_size,
             seed_s=round(seed_s, 1), pages=pages or None)
        cli = []
        for round_ in range(ROUNDS):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gongzhi.core.cli", "report", "--estate",
                            ESTATE, "--month", MONTH, "--output",
                            str(directory / f"cli-{round_}.pdf"), "--database-url", url,
                            "--registry", str(directory / "registry.csv")],
                           check=True, capture_output=True)
            cli.append(time.perf_counter() - began)
        emit("report_cli_s", cli, "s", **data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
