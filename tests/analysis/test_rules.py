"""Live rules and the detector beside them."""

from __future__ import annotations

from selfheal.analysis.rules import DEFAULT_RULES, LiveDetection, Rule
from selfheal.core.types import Sample, SeriesKey

KEY = SeriesKey.of("error_ratio", {"service": "cart"})


def feed(det: LiveDetection, values: list[float], key: SeriesKey = KEY) -> list[list[str]]:
    return [
        [a.detector for a in det.observe([Sample(key, float(t), v)])] for t, v in enumerate(values)
    ]


def test_threshold_rule_fires_after_warmup_only() -> None:
    det = LiveDetection([Rule("error_ratio", above=0.05)], warmup_samples=3)
    out = feed(det, [0.5, 0.5, 0.5, 0.0, 0.5])
    assert out == [[], [], [], [], ["rule:error_ratio>0.05"]]


def test_for_samples_needs_consecutive_breaches() -> None:
    det = LiveDetection([Rule("error_ratio", above=0.05, for_samples=2)], warmup_samples=0)
    assert feed(det, [0.5, 0.0, 0.5, 0.5]) == [[], [], [], ["rule:error_ratio>0.05"]]


def test_baseline_rule_compares_with_learned_level_and_does_not_learn_flagged() -> None:
    key = SeriesKey.of("latency_p99_seconds", {"service": "cart"})
    det = LiveDetection([Rule(key.name, baseline_factor=3, min_value=0.1)], warmup_samples=5)
    hits = feed(det, [0.1] * 10 + [0.5] * 20, key)
    assert all(h for h in hits[10:])
    assert abs((det.baseline(key) or 0) - 0.1) < 1e-9


def test_instance_down_fires_without_warmup() -> None:
    key = SeriesKey.of("up", {"service": "cart", "instance": "cart-0"})
    det = LiveDetection(DEFAULT_RULES, warmup_samples=10)
    (anomaly,) = det.observe([Sample(key, 1.0, 0.0)])
    assert anomaly.instance == "cart-0" and anomaly.indicator == "up"


def test_detector_flags_are_evidence_and_only_rule_breaches_are_not_learned() -> None:
    class Jump:
        learned: list[float] = []

        def score_one(self, x: float, t: float) -> float:
            return 1.0 if x > 10 else 0.0

        def learn_one(self, x: float, t: float) -> None:
            self.learned.append(x)

    jump = Jump()
    rules = [Rule("error_ratio", above=100.0)]
    det = LiveDetection(
        rules, detector_factory=lambda: jump, detector_name="jump", warmup_samples=2
    )
    out = feed(det, [1, 1, 1, 50, 500])
    assert out[3] == ["jump"]
    assert out[4] == ["rule:error_ratio>100"]
    assert 500 not in jump.learned  # a rule breach never teaches the detector
    assert 50 in jump.learned  # what only the detector flagged is learned (its onset)


def test_default_rules_stay_quiet_on_healthy_levels() -> None:
    det = LiveDetection(DEFAULT_RULES, warmup_samples=5)
    healthy = {
        "error_ratio": 0.002,
        "latency_p99_seconds": 0.05,
        "up": 1.0,
        "cpu_cores": 0.05,
        "memory_bytes": 60e6,
        "pool_saturation": 0.2,
        "order_success_ratio": 0.99,
    }
    for t in range(100):
        for name, v in healthy.items():
            assert det.observe([Sample(SeriesKey.of(name, {"service": "s"}), t, v)]) == []
