"""What the loop hands the root-cause engine for one incident, in numbers.

The loop's ranker (``selfheal.loop.stages.RankerAdapter``) builds an ``RCAInput``
from its windows with these stretches and caps, and the fault-campaign benchmark
(``selfheal.bench.rca.campaign``) builds one per recorded fault with the same, so
a recorded case is ranked on what the live loop would have read:

- every service-level indicator series from ``METRIC_BASELINE_SECONDS`` before the
  incident's start, under the name ``live_indicator`` gives it (per-instance series
  and the business success ratios are left out);
- the log lines of the incident and of ``LOG_BASELINE_SECONDS`` before it, at most
  half of ``MAX_LOG_LINES`` each (the latest);
- the spans of the incident and of ``SPAN_BASELINE_SECONDS`` before it, at most half
  of ``MAX_SPANS`` each (the latest).
"""

from __future__ import annotations

from selfheal.core import indicators as ind

METRIC_BASELINE_SECONDS = 120.0
LOG_BASELINE_SECONDS = 30.0
MAX_LOG_LINES = 3000
SPAN_BASELINE_SECONDS = 60.0
MAX_SPANS = 20_000


def live_indicator(name: str, instance: str | None, target: str | None) -> str | None:
    """The name the ranker gives a series (``name``, or ``name:target`` for a call edge),
    or ``None`` for one it leaves out: a per-instance series, or a business success
    ratio (a journey's outcome, counted at whichever service happens to count it).

    >>> live_indicator("upstream_error_ratio", None, "ledger")
    'upstream_error_ratio:ledger'
    >>> live_indicator("cpu_cores", "ledger-0", None) is None
    True
    """
    if instance or name in ind.BUSINESS_INDICATORS:
        return None
    return f"{name}:{target}" if target else name
