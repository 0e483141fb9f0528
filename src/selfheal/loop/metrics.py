"""The engine's own Prometheus metrics, served on the API's ``/metrics``.

The engine updates them each cycle; the API renders them with
``prometheus_client.generate_latest(registry)``. Each engine gets its own
registry, so tests and the demo never clash with the process-global one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    """Cycle time, anomalies, incidents, actions by outcome, pause state."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.cycle_seconds = Histogram(
            "selfheal_cycle_seconds",
            "Wall time of one engine cycle (collect → … → act), seconds.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.cycles_total = Counter(
            "selfheal_cycles_total", "Engine cycles run.", registry=self.registry
        )
        self.cycle_errors_total = Counter(
            "selfheal_cycle_errors_total",
            "Cycles in which a stage raised (the cycle is skipped, the loop goes on).",
            registry=self.registry,
        )
        self.source_unavailable_total = Counter(
            "selfheal_source_unavailable_total",
            "Cycles skipped because the metrics source gave no view (the last view is kept).",
            registry=self.registry,
        )
        self.anomalies_total = Counter(
            "selfheal_anomalies_total",
            "Anomalies found, by source (rule, detector, signal).",
            ["source"],
            registry=self.registry,
        )
        self.incidents_total = Counter(
            "selfheal_incidents_total", "Incidents opened.", registry=self.registry
        )
        self.incidents_open = Gauge(
            "selfheal_incidents_open", "Incidents open now.", registry=self.registry
        )
        self.actions_total = Counter(
            "selfheal_actions_total",
            "Actions by kind and outcome (succeeded, failed, rolled_back, skipped, blocked, "
            "dry_run, denied, expired).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.paused = Gauge(
            "selfheal_paused",
            "1 while the loop is paused (no new actions).",
            registry=self.registry,
        )
        self.leader = Gauge(
            "selfheal_leader",
            "1 while this replica leads (acts); 0 while it stands by.",
            registry=self.registry,
        )
        self.series = Gauge(
            "selfheal_series", "Indicator series the detectors follow.", registry=self.registry
        )
