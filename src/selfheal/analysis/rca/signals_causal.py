"""Causal signal: Granger tests along the call graph — who moved first, and led whom?

Signal of the root-cause ranker. For every call edge, each end's most-changed
own indicator is tested for Granger causality (Granger, "Investigating Causal
Relations by Econometric Models and Cross-spectral Methods", Econometrica 1969;
used for microservice RCA by e.g. Chen et al., "CauseInfer", INFOCOM 2014, and
MicroCause) in both directions with ``statsmodels``. A service that leads its
neighbours without being led by them scores high:

    score(s) = sum_n (1 - p[s -> n]) - sum_n (1 - p[n -> s])   (clipped at 0)

over its graph neighbours ``n``, counted only for services whose metrics did
change (``change.py``), so two quiet neighbours cannot outrank a broken one.
Needs metrics with history; returns nothing otherwise.
"""

from __future__ import annotations

import warnings

import numpy as np

from selfheal.analysis.rca.change import indicator_changes
from selfheal.analysis.rca.inputs import UPSTREAM_PREFIX, MetricSeries, RCAInput
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.telemetry import FloatArray
from selfheal.core.types import Evidence, EvidenceKind

MIN_SAMPLES = 12
MAX_SAMPLES = 120  # the most recent samples only: bounded time per test
MIN_CHANGE = 3.0
LAG = 1


def _series(data: RCAInput) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per service, (timestamps, values) of its most-changed own indicator."""
    changes = [c for c in indicator_changes(data) if not c.indicator.startswith(UPSTREAM_PREFIX)]
    best: dict[str, tuple[str, str | None]] = {}
    for c in changes:  # largest first
        if c.score >= MIN_CHANGE and c.service not in best:
            best[c.service] = (c.indicator, c.instance)
    base: dict[tuple[str, str, str | None], MetricSeries] = {
        (m.service, m.indicator, m.instance): m for m in data.baseline_metrics
    }
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for m in data.metrics:
        if best.get(m.service) != (m.indicator, m.instance):
            continue
        ts, vs = m.timestamps, m.values
        ref = base.get((m.service, m.indicator, m.instance))
        if ref is not None:
            ts = np.concatenate([ref.timestamps, ts])
            vs = np.concatenate([ref.values, vs])
        keep = np.isfinite(vs) & (ts <= data.end)
        out[m.service] = (ts[keep][-MAX_SAMPLES:], vs[keep][-MAX_SAMPLES:])
    return out


def _granger_p(cause: FloatArray, effect: FloatArray) -> float:
    """p-value that ``cause`` Granger-causes ``effect`` (1.0 when untestable)."""
    from statsmodels.tools.sm_exceptions import InfeasibleTestError
    from statsmodels.tsa.stattools import grangercausalitytests

    if cause.size < MIN_SAMPLES or np.std(cause) == 0.0 or np.std(effect) == 0.0:
        return 1.0
    pair = np.column_stack([effect, cause])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = grangercausalitytests(pair, maxlag=[LAG])
        return float(result[LAG][0]["ssr_ftest"][1])
    except (ValueError, np.linalg.LinAlgError, InfeasibleTestError):
        # e.g. a lagged column that is constant although the whole series is not
        return 1.0


def _aligned(
    a: tuple[FloatArray, FloatArray], b: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    common, ia, ib = np.intersect1d(np.round(a[0]), np.round(b[0]), return_indices=True)
    return a[1][ia], b[1][ib]


def granger(data: RCAInput) -> SignalOutput:
    series = _series(data)
    if len(series) < 2:
        return SignalOutput("granger", {})
    leads: dict[str, float] = {s: 0.0 for s in series}
    led: dict[str, float] = {s: 0.0 for s in series}
    pairs = {tuple(sorted((u, v))) for u, v in data.graph.edges if u in series and v in series}
    for u, v in sorted(pairs):
        xu, xv = _aligned(series[u], series[v])
        if xu.size < MIN_SAMPLES:
            continue
        p_uv = _granger_p(xu, xv)
        p_vu = _granger_p(xv, xu)
        leads[u] += 1.0 - p_uv
        led[v] += 1.0 - p_uv
        leads[v] += 1.0 - p_vu
        led[u] += 1.0 - p_vu
    scores = {s: max(0.0, leads[s] - led[s]) for s in series}
    evidence = {
        s: (
            Evidence(
                EvidenceKind.CAUSALITY, f"granger: its metrics lead its neighbours (net {v:.2f})"
            ),
        )
        for s, v in scores.items()
        if v > 0.5
    }
    return SignalOutput("granger", scores, evidence, {}, {}, {}, scale=1.0)
