"""The default signal registry: every local signal the ranker can combine.

Built on first use (so optional modules such as the GNN import torch lazily,
only when their signal runs).
"""

from __future__ import annotations

from functools import lru_cache

from selfheal.analysis.rca import (
    signals_causal,
    signals_history,
    signals_log,
    signals_metric,
    signals_pattern,
    signals_trace,
)
from selfheal.analysis.rca.signal import SignalRegistry


@lru_cache(maxsize=1)
def default_registry() -> SignalRegistry:
    registry = SignalRegistry()
    registry.register("anomalies")(signals_metric.detector_anomalies)
    registry.register("metric_change")(signals_metric.metric_change)
    registry.register("trace_edges")(signals_trace.trace_edges)
    registry.register("trace_patterns")(signals_pattern.trace_patterns)
    registry.register("log_templates")(signals_log.log_templates)
    registry.register("granger")(signals_causal.granger)
    registry.register("history")(signals_history.past_incidents)
    return registry
