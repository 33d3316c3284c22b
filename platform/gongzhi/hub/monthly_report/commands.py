"""``gongzhi report``: the monthly report of an estate as a PDF for the joint branch's meeting,
read from the platform's store, without personal data."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.clock import SystemClock
from gongzhi.core.errors import ConfigError

log = logging.getLogger(__name__)


def add_parsers(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="the monthly report of an estate as a PDF (no personal data)",
        description="Write the monthly report of one estate for the joint branch's meeting: "
                    "alarms by kind and building, SLA met per party, escalations, residents' "
                    "reports and satisfaction, welfare checks made (a count), open items. No "
                    "phone number, household, room or resident's name is in it.")
    report.add_argument("--estate", required=True, help="the estate's id, as in the registry")
    report.add_argument("--month", required=True, metavar="YYYY-MM",
                        help="the calendar month, in the duty matrix's time zone")
    report.add_argument("--output", required=True, type=Path, help="the PDF file to write")
    report.add_argument("--lang", choices=("zh", "en"), default="zh",
                        help="the report's language (default zh)")
    report.add_argument("--font", type=Path, default=None,
                        help="a CJK TrueType font (.ttf/.ttc); default: the first one installed")
    report.add_argument("--json", dest="json_out", type=Path, default=None,
                        help="also write the figures as JSON")
    add_settings_options(report, "data_dir", "database_url", "duty_matrix", "registry")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from gongzhi.devices.registry import load_registry
    from gongzhi.hub.duty_parse import load_matrix
    from gongzhi.hub.monthly_report.load import load_month
    from gongzhi.hub.monthly_report.pdf import render_pdf
    from gongzhi.hub.monthly_report.period import parse_month
    from gongzhi.hub.store import open_store

    settings = settings_from_args(args)
    matrix = load_matrix(settings.duty_matrix)
    try:
        month = parse_month(args.month, matrix.timezone)
    except ValueError as exc:
        raise ConfigError(str(exc), source="--month") from None
    if args.font is not None and not args.font.is_file():
        raise ConfigError(f"no font file {args.font}", source="--font")
    registry = None
    if settings.registry_path.is_file():
        registry = load_registry(settings.registry_path)
        estates = registry.estates()
        if args.estate not in estates:
            raise ConfigError(f"estate {args.estate!r} is not in the registry (it has: "
                              f"{', '.join(estates[:10]) or 'none'})",
                              source=str(settings.registry_path))
    started = time.perf_counter()
    store = open_store(settings.database)
    try:
        store.migrate()
        figures = load_month(store, args.estate, month, SystemClock().now_ms(), registry)
    finally:
        store.close()
    render_pdf(figures, args.output, lang=args.lang, font=args.font)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(figures.to_dict(), ensure_ascii=False, indent=1),
                                 encoding="utf-8")
    print(f"report of {args.estate} for {month.label} written to {args.output} "
          f"({figures.alarms} alarms, {figures.reports} residents' reports, "
          f"{figures.open_items} open items; {time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    return 0
