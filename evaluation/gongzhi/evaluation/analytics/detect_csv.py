"""Run the multivariate detector over a directory of SKAB files and score what carries labels:
shared by ``gongzhi detect-csv`` and the benchmark."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gongzhi.evaluation.analytics.detector import MultivariateConfig, MultivariateDetector
from gongzhi.evaluation.analytics.scoring import Counts, NabTally, nab_tally, point_counts
from gongzhi.evaluation.analytics.skab import SkabFile, read_skab, skab_files


@dataclass(frozen=True, slots=True)
class FileResult:
    source: SkabFile
    relative: Path
    predicted: npt.NDArray[np.int8]


@dataclass(slots=True)
class Summary:
    files: int = 0
    labelled: int = 0
    counts: Counts = field(default_factory=Counts)
    nab: NabTally = field(default_factory=NabTally)
    unlabelled_rows: int = 0  # scored rows of files with no labels (anomaly-free runs)
    unlabelled_flagged: int = 0

    def add(self, result: FileResult, train_rows: int) -> None:
        self.files += 1
        data, predicted = result.source, result.predicted
        if data.anomaly is None:
            self.unlabelled_rows += max(0, len(data) - train_rows)
            self.unlabelled_flagged += int(predicted[train_rows:].sum())
            return
        self.labelled += 1
        self.counts = self.counts + point_counts(data.anomaly, predicted, train_rows)
        if data.changepoint is not None:
            self.nab = self.nab + nab_tally(data.times_ms, data.changepoint, predicted)

    def to_dict(self) -> dict[str, object]:
        c = self.counts
        flagged = (100 * self.unlabelled_flagged / self.unlabelled_rows
                   if self.unlabelled_rows else None)
        return {"files": self.files, "labelled_files": self.labelled, "f1": round(c.f1, 4),
                "far_pct": round(c.far_pct, 2), "mar_pct": round(c.mar_pct, 2),
                "tp": c.tp, "tn": c.tn, "fp": c.fp, "fn": c.fn,
                "nab": {k: round(v, 2) for k, v in self.nab.normalised().items()},
                "unlabelled_flagged_pct": None if flagged is None else round(flagged, 2)}


def detect_directory(directory: Path, config: MultivariateConfig | None = None
                     ) -> Iterator[FileResult]:
    """Each file is fitted on its own first rows and run in one causal pass."""
    for path in skab_files(directory):
        data = read_skab(path)
        detector = MultivariateDetector(len(data.columns), config)
        yield FileResult(data, path.relative_to(directory), detector.run(data.values))
