"""Live rules and the detector beside them."""

from __future__ import annotations

import random

import pytest

from selfheal.analysis.rules import DEFAULT_RULES, LiveDetection, Rule
from selfheal.core import indicators as ind
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.window_store import WindowStore

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


# -- the default latency rules over the indicator table's windowed quantiles -------------
SERVED_BUCKETS = "http_request_duration_seconds_bucket"
CALL_BUCKETS = "upstream_request_duration_seconds_bucket"
BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "+Inf")


def _traffic(slow_at: set[tuple[str, int]], seconds: int, jitter: int | None) -> WindowStore:
    """Two instances of ``payment``, four requests and two calls to ``bank`` each per
    second, every one 20 ms except one of each at the (instance, second) in ``slow_at``,
    which takes 0.6 s: as the real scraper stores them, one point per second, each up to
    0.3 s early or late when ``jitter`` seeds a draw."""
    rng = random.Random(jitter)
    late = [rng.uniform(-0.3, 0.3) if jitter is not None else 0.0 for _ in range(seconds)]
    raw = WindowStore(max_points_per_series=64)
    for inst in ("payment-0", "payment-1"):
        served = {"service": "payment", "instance_id": inst, "route": "/pay"}
        calls = {"service": "payment", "instance_id": inst, "target": "bank"}
        counts = {b: [0, 0] for b in BOUNDS}  # bound -> [served, calls], cumulative
        total = [0, 0]
        for t in range(seconds):
            slow = 1 if (inst, t) in slow_at else 0
            for i, per_second in ((0, 4), (1, 2)):
                total[i] += per_second
                for b in BOUNDS:
                    fast_in = b == "+Inf" or float(b) >= 0.02
                    slow_in = b == "+Inf" or float(b) >= 0.6
                    counts[b][i] += (per_second - slow) * fast_in + slow * slow_in
            stamp = t + late[t]
            points = [
                (SeriesKey.of("http_requests_total", served | {"status": "200"}), total[0]),
                (SeriesKey.of("upstream_requests_total", calls | {"status": "200"}), total[1]),
            ]
            for b in BOUNDS:
                bucket = {"le": b}
                points.append((SeriesKey.of(SERVED_BUCKETS, served | bucket), counts[b][0]))
                points.append((SeriesKey.of(CALL_BUCKETS, calls | bucket), counts[b][1]))
            raw.append_many(Sample(key, stamp, float(v)) for key, v in points)
    return raw


def _latency_rules_broken(
    slow_at: set[tuple[str, int]], seconds: int = 40, jitter: int | None = None
) -> dict[str, int]:
    """Each latency rule the default set breaks over the traffic, with the first second."""
    raw = _traffic(slow_at, seconds, jitter)
    indicators = IndicatorSet(window_seconds=window_seconds(1.0))
    det = LiveDetection(DEFAULT_RULES, warmup_samples=10)
    broken: dict[str, int] = {}
    for t in range(4, seconds):
        samples, _ = indicators.evaluate(raw, t + 0.05)
        for a in det.observe(samples):
            if a.indicator in LATENCY_INDICATORS and a.detector.startswith("rule:"):
                broken.setdefault(str(a.series), t)
    return broken


LATENCY_INDICATORS = {
    ind.LATENCY_P99, ind.UPSTREAM_LATENCY, ind.LATENCY_VS_PEERS, ind.UPSTREAM_LATENCY_VS_PEERS
}  # fmt: skip


@pytest.mark.parametrize("jitter", [None, *range(8)])
def test_one_slow_request_breaks_no_latency_rule_while_it_stays_in_the_window(
    jitter: int | None,
) -> None:
    # A 4 s rate window holds a 0.6 s request (a pause of a busy host) for three scrapes,
    # four when the scrapes are a little irregular: at these rates the p99 of a window is
    # its slowest request, so a rule that needed three (or four) samples broke on that
    # one request, and the loop restarted a service for it.
    for second in (15, 20, 25):
        assert _latency_rules_broken({("payment-0", second)}, jitter=jitter) == {}


def test_a_delay_on_every_request_breaks_the_latency_rules_within_five_samples() -> None:
    slow = {(inst, t) for inst in ("payment-0",) for t in range(20, 40)}
    broken = _latency_rules_broken(slow)
    assert broken, "a steady 0.6 s on one instance broke no rule"
    assert min(broken.values()) <= 20 + 4
