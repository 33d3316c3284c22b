"""Leave-one-file-out cross-validation of the SKAB detector (``gongzhi.evaluation.skab_cv``)
on small synthetic files shaped like SKAB's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.evaluation.analytics.detector import MultivariateConfig
from gongzhi.evaluation.analytics.scoring import Counts
from gongzhi.evaluation.analytics.skab import SkabFile
from gongzhi.evaluation.skab_cv import choose, cross_validate, cross_validate_directory

ROWS, FAULT = 900, (550, 750)


def plant(seed: int, fault: bool = True, drop: float = 2.0) -> SkabFile:
    rng = np.random.default_rng(seed)
    flow = 32 + rng.normal(0, 0.4, ROWS)
    label = np.zeros(ROWS, np.int8)
    if fault:
        flow[FAULT[0]:FAULT[1]] -= drop
        label[FAULT[0]:FAULT[1]] = 1
    current = 1.0 + 0.03 * (flow - 32) + rng.normal(0, 0.01, ROWS)
    values = np.column_stack([flow, current, 0.1 + rng.normal(0, 0.25, ROWS)])
    times = 1_583_740_800_000 + 1000 * np.arange(ROWS, dtype=np.int64)
    return SkabFile(Path(f"{seed}.csv"), ("Flow", "Current", "Pressure"), times, values,
                    label if fault else None, None)


def files() -> list[tuple[str, SkabFile]]:
    return [*((f"valve/{n}.csv", plant(n)) for n in range(3)),
            ("anomaly-free.csv", plant(9, fault=False))]


def test_choose_takes_the_best_f1_within_the_false_alarm_limit() -> None:
    noisy = Counts(tp=90, tn=80, fp=20, fn=10)  # F1 0.86, FAR 20 %
    careful = Counts(tp=70, tn=98, fp=2, fn=30)  # F1 0.81, FAR 2 %
    silent = Counts(tp=0, tn=100, fp=0, fn=100)
    assert choose([noisy, careful, silent], far_limit_pct=10) == 1
    assert choose([noisy, careful, silent], far_limit_pct=25) == 0
    assert choose([noisy, noisy], far_limit_pct=1) == 0  # none within: the lowest FAR, first
    assert choose([careful, careful]) == 0


def test_each_fold_chooses_on_the_other_files_and_scores_the_left_out_one() -> None:
    configs = [MultivariateConfig(margin=3.0), MultivariateConfig(margin=1e6)]
    # Short files: the 30-row clear hold-off after each fault is 10 % of their normal rows.
    cv = cross_validate(files(), configs, far_limit_pct=20)
    assert [f.left_out for f in cv.folds] == [
        "valve/0.csv", "valve/1.csv", "valve/2.csv", "anomaly-free.csv"]
    assert all(f.chosen == 0 for f in cv.folds)  # a limit nothing reaches finds nothing
    labelled = cv.labelled
    assert labelled.tp + labelled.fn == 3 * (FAULT[1] - FAULT[0])
    assert cv.to_dict()["f1"] > 0.85 and cv.to_dict()["far_pct"] < 15
    free = cv.anomaly_free_flagged_pct
    assert free is not None and free < 1
    assert cv.chosen_settings()["valve/0.csv"]["margin"] == 3.0


def test_a_left_out_file_never_takes_part_in_its_own_choice() -> None:
    """A file only a hair-trigger limit can see chooses what the others prefer, and is scored
    with it (so it is missed); the others, which see it, choose the hair trigger."""
    data = files()
    data[0] = ("valve/0.csv", plant(0, drop=0.3))  # a fault hidden in the noise
    configs = [MultivariateConfig(margin=3.0), MultivariateConfig(margin=0.3)]
    cv = cross_validate(data, configs, far_limit_pct=100)
    by_name = {f.left_out: f for f in cv.folds}
    assert by_name["valve/0.csv"].chosen == 0
    assert by_name["valve/0.csv"].test.counts.tp < 20
    train = by_name["valve/1.csv"].train
    assert train.tp + train.fn == 2 * (FAULT[1] - FAULT[0])  # its own rows are not in it


def test_a_grid_must_share_its_training_rows_and_needs_two_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="same rows"):
        cross_validate(files(), [MultivariateConfig(), MultivariateConfig(train_rows=300)])
    with pytest.raises(ConfigError, match="two files"):
        cross_validate(files()[:1], [MultivariateConfig()])
    with pytest.raises(ConfigError, match="not a directory"):
        cross_validate_directory(tmp_path / "missing")
