"""Shared streams for the detector tests: synthetic, labelled, seeded."""

from __future__ import annotations

import numpy as np
import pytest


def labelled_stream(seed: int = 0, n: int = 800) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy daily-ish sine with spikes and a level shift; returns (t, x, is_anomaly)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) * 60.0
    x = 10.0 + 2.0 * np.sin(2 * np.pi * np.arange(n) / 96) + rng.normal(0, 0.3, n)
    label = np.zeros(n, dtype=bool)
    for at in (500, 620):
        x[at] += 8.0
        label[at] = True
    x[700:720] += 5.0
    label[700:720] = True
    return t, x, label


@pytest.fixture
def stream() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return labelled_stream()
