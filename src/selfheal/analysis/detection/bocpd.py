"""Bayesian online change-point detection (BOCPD).

Adams & MacKay, "Bayesian Online Changepoint Detection", arXiv:0710.3742
(2007): a posterior over the *run length* (samples since the last change) is
updated per sample with a constant hazard ``1/hazard_lambda``; each run
length predicts the next sample with the Normal-Gamma conjugate model
(unknown mean and variance, Student-t predictive). The raw score is the
surprise ``-log p(x | past)`` of the mixture — large when no run length
explains the sample, i.e. at a change or an outlier.

Samples are standardised by a slow, winsorised EWMA of mean and spread so
one prior fits every series. Memory is constant: run lengths are truncated
at ``max_run`` (the tail's mass is dropped and the rest renormalised).

>>> d = BocpdDetector()
>>> for i in range(200):
...     d.learn_one(3.0 + 0.2 * ((i * 13) % 7 - 3), float(i))
>>> d.score_one(3.1, 200.0) < d.score_one(9.0, 200.0)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.calibration import AdaptiveCalibrator, Calibrator
from selfheal.analysis.detection.registry import register

_PRIOR = (0.0, 1.0, 1.0, 1.0)  # mu0, kappa0, a0, b0 on the standardised scale


@register("bocpd")
class BocpdDetector(Detector):
    """Surprise of a sample under the BOCPD run-length mixture."""

    name = "bocpd"

    def __init__(
        self,
        hazard_lambda: float = 250.0,
        max_run: int = 200,
        alpha: float = 0.01,
        warm_up: int = 20,
        clip: float = 4.0,
    ) -> None:
        if hazard_lambda <= 1 or max_run < 2:
            raise ValueError("need hazard_lambda > 1 and max_run >= 2")
        self.hazard_lambda = float(hazard_lambda)
        self.max_run = int(max_run)
        self.alpha = float(alpha)
        self.warm_up = int(warm_up)
        self.clip = float(clip)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        mu0, k0, a0, b0 = _PRIOR
        self.log_r = np.zeros(1)
        self.mu = np.array([mu0])
        self.kappa = np.array([k0])
        self.a = np.array([a0])
        self.b = np.array([b0])
        # The shape parameter at run length r is a0 + r/2, so the log-gamma
        # terms of the Student-t density depend on r only: compute them once.
        a_r = a0 + 0.5 * np.arange(self.max_run + 1)
        self._lgamma = gammaln(a_r + 0.5) - gammaln(a_r)

    @property
    def warm_up_samples(self) -> int:
        return self.warm_up

    def default_calibrator(self) -> Calibrator:
        return AdaptiveCalibrator(alpha=0.005, min_samples=30)

    def _standardise(self, x: float) -> float:
        std = math.sqrt(self.var) + 1e-9 + 1e-3 * abs(self.mean)
        return (x - self.mean) / std

    def _log_pred(self, z: float) -> np.ndarray:
        df = 2.0 * self.a
        scale2 = self.b * (self.kappa + 1.0) / (self.a * self.kappa)
        return np.asarray(
            self._lgamma[: len(self.a)]
            - 0.5 * np.log(np.pi * df * scale2)
            - (df + 1.0) / 2.0 * np.log1p((z - self.mu) ** 2 / (df * scale2)),
            dtype=float,
        )

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self.n < self.warm_up:
            return 0.0
        z = self._standardise(x)
        return -_logsumexp(self.log_r + self._log_pred(z))

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        if self.n >= self.warm_up:
            self._update_posterior(self._standardise(x))
            std = math.sqrt(self.var)
            x = min(max(x, self.mean - self.clip * std), self.mean + self.clip * std)
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)

    def _update_posterior(self, z: float) -> None:
        log_h = -math.log(self.hazard_lambda)
        log_1mh = math.log1p(-1.0 / self.hazard_lambda)
        joint = self.log_r + self._log_pred(z)
        grow = joint + log_1mh
        change = _logsumexp(joint) + log_h
        log_r = np.concatenate(([change], grow))
        mu0, k0, a0, b0 = _PRIOR
        mu = np.concatenate(([mu0], (self.kappa * self.mu + z) / (self.kappa + 1.0)))
        b = np.concatenate(
            ([b0], self.b + self.kappa * (z - self.mu) ** 2 / (2.0 * (self.kappa + 1.0)))
        )
        kappa = np.concatenate(([k0], self.kappa + 1.0))
        a = np.concatenate(([a0], self.a + 0.5))
        if len(log_r) > self.max_run:
            log_r, mu, kappa, a, b = (v[: self.max_run] for v in (log_r, mu, kappa, a, b))
        self.log_r = log_r - _logsumexp(log_r)
        self.mu, self.kappa, self.a, self.b = mu, kappa, a, b

    def run_length_map(self) -> int:
        """Most probable samples since the last change (for explanations)."""
        return int(np.argmax(self.log_r))

    def params(self) -> dict[str, Any]:
        return {
            "hazard_lambda": self.hazard_lambda,
            "max_run": self.max_run,
            "alpha": self.alpha,
            "warm_up": self.warm_up,
            "clip": self.clip,
        }

    def get_state(self) -> State:
        return {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "log_r": self.log_r.copy(),
            "mu": self.mu.copy(),
            "kappa": self.kappa.copy(),
            "a": self.a.copy(),
            "b": self.b.copy(),
        }

    def set_state(self, state: State) -> None:
        arrays = [
            np.asarray(state[k], dtype=np.float64) for k in ("log_r", "mu", "kappa", "a", "b")
        ]
        if len({v.shape for v in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("BOCPD run-length arrays must share one 1-D shape")
        if arrays[0].shape[0] > self.max_run:
            raise ValueError(f"BOCPD state longer than max_run={self.max_run}")
        self.n, self.mean, self.var = int(state["n"]), float(state["mean"]), float(state["var"])
        self.log_r, self.mu, self.kappa, self.a, self.b = arrays


def _logsumexp(v: np.ndarray) -> float:
    top = float(v.max())
    return top + math.log(float(np.exp(v - top).sum()))
