"""``LiveDetection`` with a fleet detector flags exactly what one detector per series flags."""

from __future__ import annotations

import math

import numpy as np

from selfheal.analysis.detection.range_fleet import SeasonalRangeFleet
from selfheal.analysis.detection.registry import registry
from selfheal.analysis.rules import DEFAULT_RULES, LiveDetection
from selfheal.core.types import Sample, SeriesKey


def _cycles(seed: int, n_cycles: int) -> list[list[Sample]]:
    rng = np.random.default_rng(seed)
    keys = [
        SeriesKey.of(name, {"service": f"svc{s}", "instance": f"svc{s}-{k}"})
        for s in range(3)
        for k, name in enumerate(("latency_p99_seconds", "error_ratio", "cpu_cores"))
    ]
    out = []
    for c in range(n_cycles):
        t = 1000.0 + 5.0 * c
        batch = []
        for j, key in enumerate(keys):
            if rng.random() < 0.05:
                continue  # no sample this cycle
            value = 0.2 + 0.01 * j + 0.01 * rng.standard_normal()
            if c > 700 and j == 4:
                value += 0.5  # a fault: the rules and the detector both see it
            if rng.random() < 0.003:
                value += 0.3 * rng.standard_normal()
            batch.append(Sample(key, t, value))
        if c % 50 == 0:
            batch.append(Sample(keys[0], t + 1.0, math.nan))
            batch.append(Sample(keys[1], t + 2.0, 0.25))  # a second sample of a series
        out.append(batch)
    return out


def test_the_fleet_path_finds_the_same_anomalies_as_one_detector_per_series() -> None:
    per_series = LiveDetection(
        DEFAULT_RULES,
        detector_factory=lambda: registry.create("seasonalrange"),
        detector_name="detector:seasonalrange",
        detector_threshold=0.2,
        warmup_samples=20,
    )
    fleet = LiveDetection(
        DEFAULT_RULES,
        detector_name="detector:seasonalrange",
        fleet=SeasonalRangeFleet(),
        detector_threshold=0.2,
        warmup_samples=20,
    )
    statistical = 0
    for batch in _cycles(0, 900):
        expected = per_series.observe(batch)
        assert fleet.observe(batch) == expected
        statistical += sum(a.detector == "detector:seasonalrange" for a in expected)
    assert statistical > 0
    assert fleet.series_count == per_series.series_count == 9


def test_a_creeping_series_is_flagged_once_per_excursion_not_on_every_sample() -> None:
    # Memory that climbs steadily is always beyond the range it had 100 samples ago; a
    # detector that never learned what it flagged would flag it on every sample.
    key = SeriesKey.of("memory_bytes", {"service": "bank"})
    rng = np.random.default_rng(0)
    det = LiveDetection([], fleet=SeasonalRangeFleet(), detector_name="d", warmup_samples=20)
    flagged = 0
    for t in range(600):
        value = 60e6 + 2e4 * t + rng.normal(0.0, 1e5)
        flagged += len(det.observe([Sample(key, float(t), value)]))
    assert 0 < flagged <= 10
