"""A causal multivariate detector for correlated process channels (SKAB's test bed; a pump
room's pressure, flow and motor current).

Fitted on the first ``train_rows`` rows, then one strictly causal pass, one row at a time:

1. Each channel is standardised by the training mean and standard deviation.
2. Fast channels (training lag-1 autocorrelation below ``slow_autocorr``) enter through their
   deviation from an adaptive baseline; slow channels (temperatures, whose level wanders far
   beyond what a few minutes of training can show) enter through their rate of change.
   Both are smoothed by an EWMA of ``span`` rows.
3. A channel's baseline follows it with time constant ``baseline_tau`` rows while the channel
   is within ``freeze_sigma`` of its smoothed training spread, and freezes beyond: slow drift
   is learned, a fault is not (and, frozen, leaves no overshoot when the fault ends). A channel
   frozen for ``max_freeze`` rows learns again: the plant has settled in a new normal, and an
   alarm held forever by a baseline that can never catch up would be noise from then on.
4. Hotelling's T² of the smoothed vector against the training covariance (shrunk toward its
   diagonal), with a control limit of ``margin`` x its training ``quantile``.
5. Persistence: an alarm needs ``min_run`` consecutive rows over the limit and clears once
   more than ``hold`` consecutive rows are under it (the engine's minimum duration and clear
   hold-off).
6. Hold limit: an alarm raised for ``max_alarm`` rows re-learns at once. Every channel's
   baseline jumps to where the channel now is, the alarm clears, and it needs ``min_run``
   rows over the limit again from the new normal. A plant left in a new state after a fault
   (or drifting away from its short training) would otherwise hold one alarm for hundreds of
   rows with no fault under it. A fault still going on is then seen again only if it keeps
   changing (``None``: no limit).

The defaults are the settings leave-one-file-out cross-validation on SKAB's valve1 and
anomaly-free files chooses when given all of them (``gongzhi.evaluation.skab_cv``); its
left-out scores, not the scores of these defaults on the same files, measure them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MultivariateConfig:
    train_rows: int = 400
    warmup_rows: int = 50  # smoothing settles before the training statistics are taken
    baseline_tau: float = 100.0
    span: int = 10
    slow_autocorr: float = 0.8
    freeze_sigma: float = 6.0
    max_freeze: int = 400  # rows
    quantile: float = 0.99
    margin: float = 3.5
    shrinkage: float = 0.2
    min_run: int = 5
    hold: int = 30
    max_alarm: int | None = 450  # rows


class MultivariateDetector:
    """Feed rows in order with ``step``; the first ``train_rows`` rows fit the model (and are
    never flagged), every later row gets a verdict from the past only."""

    def __init__(self, channels: int, config: MultivariateConfig | None = None) -> None:
        self.config = config or MultivariateConfig()
        self.channels = channels
        self._training: list[FloatArray] = []
        self._fitted = False
        self._alpha = 2.0 / (self.config.span + 1)
        self._previous = np.zeros(channels)
        self._level = np.zeros(channels)
        self._rate = np.zeros(channels)
        self._baseline = np.zeros(channels)
        self._mean = np.zeros(channels)
        self._scale = np.ones(channels)
        self._rate_scale = np.ones(channels)
        self._slow = np.zeros(channels, np.bool_)
        self._spread = np.ones(channels)
        self._frozen = np.zeros(channels, np.int64)
        self._precision: FloatArray = np.eye(channels)
        self.limit = np.inf
        self._run = 0
        self._quiet = 0
        self._held = 0
        self.alarm = False

    def step(self, row: FloatArray) -> bool:
        """One row; True while the alarm is raised."""
        if not self._fitted:
            self._training.append(np.asarray(row, np.float64))
            if len(self._training) == self.config.train_rows:
                self._fit(np.vstack(self._training))
                self._training = []
            return False
        vector = self._advance(np.asarray(row, np.float64), learning=False)
        statistic = float(vector @ self._precision @ vector)
        alarm = self._persist(statistic > self.limit)
        self._held = self._held + 1 if alarm else 0
        if self.config.max_alarm is not None and self._held >= self.config.max_alarm:
            self._relearn()
        return alarm

    def run(self, rows: FloatArray) -> npt.NDArray[np.int8]:
        return np.array([self.step(r) for r in rows], np.int8)

    def _fit(self, train: FloatArray) -> None:
        c = self.config
        self._mean = train.mean(axis=0)
        # A channel nearly constant in training is scaled by at least 1e-4 of its level, so a
        # quantised or idle reading does not turn the smallest later change into an alarm.
        self._scale = np.maximum(train.std(axis=0), 1e-4 * np.abs(self._mean) + 1e-12)
        z = (train - self._mean) / self._scale
        steps = np.diff(z, axis=0)
        self._rate_scale = np.maximum(steps.std(axis=0), 1e-9)
        self._slow = np.array([_lag1_autocorrelation(z[:, j]) > c.slow_autocorr
                               for j in range(self.channels)])
        self._baseline = z[: c.warmup_rows].mean(axis=0)
        self._previous = z[0]
        vectors = np.array([self._advance_z(zi, learning=True) for zi in z])[c.warmup_rows:]
        self._spread = np.maximum(vectors.std(axis=0), 1e-9)
        covariance = np.atleast_2d(np.cov(vectors.T))
        diagonal = np.diag(np.diag(covariance))
        shrunk = (1 - c.shrinkage) * covariance + c.shrinkage * diagonal
        ridge = 1e-9 * max(1.0, float(np.trace(shrunk))) * np.eye(self.channels)
        self._precision = np.asarray(np.linalg.inv(shrunk + ridge), np.float64)
        statistics = np.einsum("ij,jk,ik->i", vectors, self._precision, vectors)
        self.limit = c.margin * float(np.quantile(statistics, c.quantile))
        self._fitted = True

    def _advance(self, row: FloatArray, learning: bool) -> FloatArray:
        return self._advance_z((row - self._mean) / self._scale, learning)

    def _advance_z(self, z: FloatArray, learning: bool) -> FloatArray:
        a = self._alpha
        self._level += a * (z - self._baseline - self._level)
        self._rate += a * ((z - self._previous) / self._rate_scale - self._rate)
        self._previous = z
        vector = np.where(self._slow, self._rate, self._level)
        calm = True if learning else np.abs(vector / self._spread) < self.config.freeze_sigma
        self._frozen = np.where(calm, 0, self._frozen + 1)
        calm = calm | (self._frozen > self.config.max_freeze)
        self._baseline += np.where(calm, 1.0 / self.config.baseline_tau, 0.0) * (
            z - self._baseline)
        return vector

    def _relearn(self) -> None:
        """The present is the new normal: levels measured from here, the alarm cleared."""
        self._baseline += np.where(self._slow, 0.0, self._level)
        self._level[:] = 0.0
        self._frozen[:] = 0
        self._run = self._held = 0
        self.alarm = False

    def _persist(self, over: bool) -> bool:
        self._run = self._run + 1 if over else 0
        self._quiet = 0 if over else self._quiet + 1
        if not self.alarm and self._run >= self.config.min_run:
            self.alarm = True
        elif self.alarm and self._quiet > self.config.hold:
            self.alarm = False
        return self.alarm


def _lag1_autocorrelation(series: FloatArray) -> float:
    a, b = series[:-1] - series[:-1].mean(), series[1:] - series[1:].mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0
