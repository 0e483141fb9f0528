"""Isolation Forest on windowed features, refitted periodically.

Liu, Ting & Zhou, "Isolation Forest", ICDM 2008: anomalies are isolated by
fewer random axis-parallel splits. Here each sample becomes a feature vector
— the last ``window`` values standardised by a slow EWMA of the series — so
the forest judges *shapes* (a spike, a dip, a broken rhythm) as well as
levels. The forest (scikit-learn) is refitted every ``refit_every`` learned
samples on a ring buffer of the last ``buffer_size`` feature vectors, with a
fixed ``seed``, so it is deterministic.

Scoring walks the fitted trees as flat numpy arrays (scikit-learn's
``score_samples`` costs milliseconds for a single row); those arrays are also
what is saved, so a model is stored and loaded without pickle.

>>> import math
>>> d = IsolationForestDetector(window=4, buffer_size=256, refit_every=64, min_fit=64)
>>> for i in range(300):
...     d.learn_one(math.sin(i / 5) + 0.05 * math.sin(i * 7.3), float(i))
>>> d.score_one(math.sin(300 / 5), 300.0) < d.score_one(4.0, 300.0)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.calibration import AdaptiveCalibrator, Calibrator
from selfheal.analysis.detection.registry import register


@register("iforest")
class IsolationForestDetector(Detector):
    """Raw score = scikit-learn's anomaly score (``-score_samples``), about 0.3..1."""

    name = "iforest"

    def __init__(
        self,
        window: int = 3,
        buffer_size: int = 512,
        refit_every: int = 1024,
        min_fit: int = 128,
        n_estimators: int = 64,
        alpha: float = 0.01,
        seed: int = 0,
    ) -> None:
        if window < 1 or min_fit < 2 or buffer_size < min_fit or refit_every < 1:
            raise ValueError(
                "need window >= 1, min_fit >= 2, buffer_size >= min_fit, refit_every >= 1"
            )
        self.window = int(window)
        self.buffer_size = int(buffer_size)
        self.refit_every = int(refit_every)
        self.min_fit = int(min_fit)
        self.n_estimators = int(n_estimators)
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.recent = np.zeros(self.window)  # last values, oldest first
        self.buffer = np.zeros((self.buffer_size, self.window))
        self.buffered = 0
        self.pos = 0
        self.since_fit = 0
        self._forest: Any = None

    @property
    def warm_up_samples(self) -> int:
        return self.min_fit + self.window

    def default_calibrator(self) -> Calibrator:
        return AdaptiveCalibrator(alpha=0.005, min_samples=30)

    def _features(self, x: float) -> np.ndarray:
        std = math.sqrt(self.var) + 1e-9 + 1e-3 * abs(self.mean)
        values = np.append(self.recent[1:], x)
        return (values - self.mean) / std

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self._forest is None:
            return 0.0
        return float(self._forest.score(self._features(x)))

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        if self.n >= self.window:
            self.buffer[self.pos] = self._features(x)
            self.pos = (self.pos + 1) % self.buffer_size
            self.buffered = min(self.buffered + 1, self.buffer_size)
            self.since_fit += 1
        self.recent = np.append(self.recent[1:], x)
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        due = self._forest is None and self.buffered >= self.min_fit
        if due or (self._forest is not None and self.since_fit >= self.refit_every):
            self._fit()

    def _fit(self) -> None:
        from sklearn.ensemble import IsolationForest

        data = self.buffer[: self.buffered]
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(256, len(data)),
            random_state=self.seed,
        )
        forest.fit(data)
        self._forest = _FlatForest(forest)
        self.since_fit = 0

    def params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "buffer_size": self.buffer_size,
            "refit_every": self.refit_every,
            "min_fit": self.min_fit,
            "n_estimators": self.n_estimators,
            "alpha": self.alpha,
            "seed": self.seed,
        }

    def get_state(self) -> State:
        state: State = {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "recent": self.recent.copy(),
            "buffer": self.buffer.copy(),
            "buffered": self.buffered,
            "pos": self.pos,
            "since_fit": self.since_fit,
            "fitted": self._forest is not None,
        }
        if self._forest is not None:
            state.update({f"forest.{k}": v for k, v in self._forest.arrays().items()})
        return state

    def set_state(self, state: State) -> None:
        buffer = np.asarray(state["buffer"], dtype=np.float64)
        recent = np.asarray(state["recent"], dtype=np.float64)
        if buffer.shape != (self.buffer_size, self.window) or recent.shape != (self.window,):
            raise ValueError("isolation forest state does not match window/buffer_size")
        self.n, self.mean, self.var = int(state["n"]), float(state["mean"]), float(state["var"])
        self.recent, self.buffer = recent, buffer
        self.buffered, self.pos = int(state["buffered"]), int(state["pos"])
        self.since_fit = int(state["since_fit"])
        self._forest = None
        if bool(state["fitted"]):
            prefix = "forest."
            arrays = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            self._forest = _FlatForest.from_arrays(arrays)


def _average_path(n: np.ndarray) -> np.ndarray:
    """c(n): mean path length of an unsuccessful BST search among n points (Liu et al.)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class _FlatForest:
    """A fitted scikit-learn forest flattened into arrays, scored one sample fast.

    scikit-learn's ``score_samples`` costs milliseconds per call for one row;
    walking all trees at once with numpy costs tens of microseconds. The
    score is the same quantity: ``2 ** (-mean path length / c(max_samples))``.
    """

    def __init__(self, forest: Any) -> None:
        trees = [est.tree_ for est in forest.estimators_]
        offsets = np.cumsum([0] + [t.node_count for t in trees])
        total = int(offsets[-1])
        # Global node ids; a leaf points to itself on both sides, so every walk
        # can run the same number of steps (the deepest tree's depth).
        self.left = np.arange(total)
        self.right = np.arange(total)
        self.feature = np.zeros(total, dtype=np.int64)
        self.threshold = np.full(total, np.inf)
        self.leaf_value = np.zeros(total)
        max_depth = 0
        for tree, feats, off in zip(trees, forest.estimators_features_, offsets, strict=False):
            m = tree.node_count
            inner = tree.children_left >= 0
            sl = slice(off, off + m)
            self.left[sl] = np.where(inner, tree.children_left + off, np.arange(off, off + m))
            self.right[sl] = np.where(inner, tree.children_right + off, np.arange(off, off + m))
            self.feature[sl] = np.where(inner, np.asarray(feats)[np.maximum(tree.feature, 0)], 0)
            self.threshold[sl] = np.where(inner, tree.threshold, np.inf)
            depth = np.zeros(m)
            for node in range(m):  # parents precede children in scikit-learn's layout
                if inner[node]:
                    depth[tree.children_left[node]] = depth[tree.children_right[node]] = (
                        depth[node] + 1
                    )
            max_depth = max(max_depth, int(depth.max()))
            self.leaf_value[sl] = depth + _average_path(tree.n_node_samples)
        self.roots = offsets[:-1].astype(np.int64)
        self.steps = max_depth
        self.norm = float(_average_path(np.array([forest.max_samples_]))[0])

    _KEYS = ("left", "right", "feature", "threshold", "leaf_value", "roots")

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: getattr(self, k).copy() for k in self._KEYS}
        out["shape"] = np.array([self.steps], dtype=np.int64)
        out["norm"] = np.array([self.norm])
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> _FlatForest:
        forest = cls.__new__(cls)
        for k in ("left", "right", "feature", "roots"):
            setattr(forest, k, np.asarray(arrays[k], dtype=np.int64))
        forest.threshold = np.asarray(arrays["threshold"], dtype=np.float64)
        forest.leaf_value = np.asarray(arrays["leaf_value"], dtype=np.float64)
        forest.steps = int(np.asarray(arrays["shape"])[0])
        forest.norm = float(np.asarray(arrays["norm"])[0])
        n = len(forest.left)
        if not (len(forest.right) == len(forest.feature) == len(forest.threshold) == n):
            raise ValueError("isolation forest arrays have different lengths")
        if n == 0 or forest.left.max() >= n or forest.right.max() >= n or forest.roots.max() >= n:
            raise ValueError("isolation forest arrays point outside the forest")
        return forest

    def score(self, features: np.ndarray) -> float:
        node = self.roots
        for _ in range(self.steps):
            go_left = features[self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        path = float(self.leaf_value[node].mean())
        return float(2.0 ** (-path / self.norm))
