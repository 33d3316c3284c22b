"""Leave-one-file-out cross-validation of the multivariate detector on SKAB files.

Every configuration of a declared grid is run once over every file (each file fitted on its own
first rows, one causal pass). Then, for each file in turn, the configuration is chosen on all
the *other* files and only the left-out file is scored with it; the anomaly-free file (no
labels, every scored row normal) is one of the files: it takes part in choosing while it is not
left out, and is scored with settings chosen on the labelled files alone when it is.

Choice on the other files: the highest point-wise F1 over their pooled rows among the
configurations whose false-alarm rate there (the anomaly-free file's flagged rows counting as
false alarms) is at most ``far_limit_pct``; if none is, the lowest false-alarm rate. Ties go to
the earlier configuration of the grid.

The pooled left-out verdicts give ``skab_cv_f1`` and ``skab_cv_far_pct`` (labelled files, as
SKAB's published scores are), and the anomaly-free file's flagged share on its own fold.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.analytics.detector import MultivariateConfig, MultivariateDetector
from gongzhi.evaluation.analytics.scoring import Counts, point_counts
from gongzhi.evaluation.analytics.skab import SkabFile, read_skab, skab_files

FAR_LIMIT_PCT = 10.0

# The grid the folds choose from: the T² limit's margin, the clear hold-off, how long a frozen
# channel waits before learning again, and the alarm hold limit (None: none).
GRID: dict[str, Sequence[Any]] = {
    "margin": (3.0, 3.5, 4.0, 5.0),
    "hold": (15, 30),
    "max_freeze": (200, 400, 600),
    "max_alarm": (300, 450, None),
}


def grid_configs(grid: Mapping[str, Sequence[Any]] | None = None,
                 base: MultivariateConfig | None = None) -> list[MultivariateConfig]:
    grid = GRID if grid is None else grid
    base = base or MultivariateConfig()
    names = list(grid)
    return [dataclasses.replace(base, **dict(zip(names, values, strict=True)))
            for values in itertools.product(*(grid[n] for n in names))]


@dataclass(frozen=True, slots=True)
class FileCounts:
    """One file's confusion counts after training (an unlabelled file: all rows normal)."""

    name: str
    labelled: bool
    counts: Counts


def file_counts(data: SkabFile, config: MultivariateConfig, name: str) -> FileCounts:
    predicted = MultivariateDetector(len(data.columns), config).run(data.values)
    labelled = data.anomaly is not None
    truth = data.anomaly if data.anomaly is not None else [0] * len(data)
    return FileCounts(name, labelled, point_counts(truth, predicted, config.train_rows))


def _pooled(rows: Iterable[FileCounts]) -> Counts:
    return sum((r.counts for r in rows), Counts())


@dataclass(frozen=True, slots=True)
class Fold:
    left_out: str
    chosen: int  # index into the grid
    train: Counts  # the chosen configuration on the other files
    test: FileCounts


@dataclass(frozen=True, slots=True)
class CrossValidation:
    configs: list[MultivariateConfig]
    folds: list[Fold]

    @property
    def labelled(self) -> Counts:
        return _pooled(f.test for f in self.folds if f.test.labelled)

    @property
    def anomaly_free_flagged_pct(self) -> float | None:
        free = _pooled(f.test for f in self.folds if not f.test.labelled)
        return free.far_pct if free.fp + free.tn else None

    def chosen_settings(self) -> dict[str, dict[str, Any]]:
        return {f.left_out: {name: getattr(self.configs[f.chosen], name) for name in GRID}
                for f in self.folds}

    def to_dict(self) -> dict[str, Any]:
        c = self.labelled
        free = self.anomaly_free_flagged_pct
        return {"f1": round(c.f1, 4), "far_pct": round(c.far_pct, 2),
                "mar_pct": round(c.mar_pct, 2), "tp": c.tp, "tn": c.tn, "fp": c.fp,
                "fn": c.fn, "folds": len(self.folds), "grid_size": len(self.configs),
                "anomaly_free_flagged_pct": None if free is None else round(free, 2),
                "chosen": self.chosen_settings()}


def choose(candidates: Sequence[Counts], far_limit_pct: float = FAR_LIMIT_PCT) -> int:
    admissible = [i for i, c in enumerate(candidates) if c.far_pct <= far_limit_pct]
    if admissible:
        return max(admissible, key=lambda i: (candidates[i].f1, -i))
    return min(range(len(candidates)), key=lambda i: (candidates[i].far_pct, i))


def cross_validate(files: Sequence[tuple[str, SkabFile]],
                   configs: Sequence[MultivariateConfig],
                   far_limit_pct: float = FAR_LIMIT_PCT) -> CrossValidation:
    if len(files) < 2:
        raise ConfigError("cross-validation needs at least two files")
    if len({c.train_rows for c in configs}) != 1:
        raise ConfigError("every configuration of the grid must train on the same rows")
    table = [[file_counts(data, config, name) for name, data in files] for config in configs]
    folds = []
    for k, (name, _) in enumerate(files):
        others = [_pooled(row[j] for j in range(len(files)) if j != k) for row in table]
        chosen = choose(others, far_limit_pct)
        folds.append(Fold(name, chosen, others[chosen], table[chosen][k]))
    return CrossValidation(list(configs), folds)


def cross_validate_directory(directory: Path, grid: Mapping[str, Sequence[Any]] | None = None,
                             far_limit_pct: float = FAR_LIMIT_PCT) -> CrossValidation:
    files = [(str(p.relative_to(directory)), read_skab(p)) for p in skab_files(directory)]
    return cross_validate(files, grid_configs(grid), far_limit_pct)
