"""The indicator vocabulary: one name per indicator, used by every layer.

Monitoring derives series under these names (labels ``service`` and, where the
indicator is per instance or per call edge, ``instance`` / ``target``); the live
rules, the root-cause analysis, the failure-type triage and the impact stage read
them by these names. Names carry their unit (Prometheus style: ``_seconds``,
``_bytes``, ``_ratio``, ``_per_second``). Pure constants, no I/O.
"""

from __future__ import annotations

ERROR_RATIO = "error_ratio"  # share of served requests that failed (5xx), 0..1
LATENCY_P99 = "latency_p99_seconds"  # 99th percentile of served latency, seconds
SATURATION = "pool_saturation"  # in-use / max of the connection pool, 0..1
POOL_TIMEOUTS = "pool_wait_timeouts_per_second"  # pool waits that timed out, per second
CPU = "cpu_cores"  # CPU seconds per second (1.0 = one core)
MEMORY = "memory_bytes"  # resident memory, bytes
UP = "up"  # 1 when the instance answered its scrape, else 0
UPSTREAM_ERROR_RATIO = "upstream_error_ratio"  # calls to one callee (label target) that failed
UPSTREAM_LATENCY = "upstream_latency_p99_seconds"  # latency of calls to one callee, seconds
ORDER_SUCCESS = "order_success_ratio"  # business: orders that succeeded, 0..1
PAYMENT_SUCCESS = "payment_success_ratio"  # business: payments that succeeded, 0..1
REQUEST_RATE = "request_rate"  # served requests per second
# An instance's p99 over its service's typical instance's (the median p99 of its instances,
# the faster one of two; 1.0 while it is fast), or the same ratio of medians, whichever is
# larger: a slow instance stands out even when the whole host is loaded and every baseline
# moved, and a small delay on its every request by its median. The expressions:
# monitoring.indicator_table.
LATENCY_VS_PEERS = "latency_p99_vs_peers"
UPSTREAM_LATENCY_VS_PEERS = "upstream_latency_p99_vs_peers"

# 1 while an alert from Alertmanager fires for the service (labels alertname, instance,
# failure_type), 0 for a while after it resolved (``monitoring.alertmanager``).
ALERT_FIRING = "alert_firing"

BUSINESS_INDICATORS = (ORDER_SUCCESS, PAYMENT_SUCCESS)

# Signals outside the loop's indicator table, same naming: ERROR log lines per second per
# service (``monitoring.logs``); calls, failed share and p99 per caller → callee edge seen
# in spans (``monitoring.service_graph``). Written beside raw series, under ``PREFIX``.
LOG_ERROR_RATE = "log_error_rate"
TRACE_CALL_RATE = "trace_call_rate"
TRACE_ERROR_RATIO = "trace_error_ratio"
TRACE_LATENCY_P99 = "trace_latency_p99_seconds"
PREFIX = "indicator:"  # names of indicators kept in a store that also holds raw series
