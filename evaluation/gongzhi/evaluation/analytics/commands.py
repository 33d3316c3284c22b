"""``gongzhi detect-csv``: the multivariate detector over recorded CSV files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.analytics.detect_csv import Summary, detect_directory
from gongzhi.evaluation.analytics.detector import MultivariateConfig


def add_parsers(subparsers: Any) -> None:
    config = MultivariateConfig()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "detect-csv",
        help="run the multivariate anomaly detector over recorded CSV files",
        description="For every CSV under --input-dir, fit the detector on the file's first "
                    f"{config.train_rows} rows, run it in one strictly causal pass and write "
                    "--output-dir/<same relative path> with one column 'anomaly' (0 or 1) per "
                    "input row. One configuration for every file. When the inputs carry labels "
                    "('anomaly', 'changepoint'), print SKAB's scores as JSON: point-wise F1, "
                    "FAR and MAR over the rows after the training part, and the NAB score "
                    "(60 s window after each changepoint).",
    )
    parser.add_argument("--format", choices=["skab"], required=True,
                        help="input format: skab (';'-separated, datetime first, sensor "
                             "columns, optional anomaly and changepoint)")
    parser.add_argument("--input-dir", type=Path, required=True,
                        help="directory searched recursively for *.csv")
    parser.add_argument("--output-dir", type=Path, required=True,
                        help="where the predictions go (created if missing)")
    parser.set_defaults(func=run_detect_csv)


def run_detect_csv(args: argparse.Namespace) -> int:
    input_dir: Path = args.input_dir
    output_dir: Path = args.output_dir
    if output_dir.resolve().is_relative_to(input_dir.resolve()):
        raise ConfigError("--output-dir must not be inside --input-dir (outputs would be "
                          "read as inputs next time)")
    config = MultivariateConfig()
    summary = Summary()
    for result in detect_directory(input_dir, config):
        target = output_dir / result.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = ["anomaly", *(str(int(v)) for v in result.predicted)]
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary.add(result, config.train_rows)
    if summary.files == 0:
        raise ConfigError(f"no CSV files under {input_dir}")
    print(json.dumps(summary.to_dict()))
    return 0
