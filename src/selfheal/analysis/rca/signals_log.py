"""Log signal: services whose template mix changed, or that started logging new errors.

Signal of the root-cause ranker, built on ``logs.py`` (Drain templates). For
each service it compares the templates logged during the incident with those
logged before it:

- the total-variation distance between the two template distributions (a fault
  changes the code path, so success lines vanish and error lines appear);
- the share of incident lines whose template is new for the service, counted
  double when the template reads like an error (LogCluster/ Log3C style "new
  event" detection, Lin et al., ICSE 2016);
- how far the service's volume moved against the system-wide volume (a service
  that goes quiet while the others keep logging is suspect).

The distance is shrunk toward zero for services with few lines, so a service
that logged three lines cannot outrank one that logged three hundred.
"""

from __future__ import annotations

import math
from collections import Counter

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.logs import is_errorish, mine_templates
from selfheal.analysis.rca.signal import SignalOutput

MIN_LINES = 5  # below this many lines before, a service's mix says little
SHRINK_LINES = 20.0  # lines at which the evidence counts half


def _tv(before: Counter[str], during: Counter[str]) -> float:
    nb, nd = sum(before.values()), sum(during.values())
    if nb == 0 or nd == 0:
        return 0.0
    keys = set(before) | set(during)
    return 0.5 * sum(abs(before[k] / nb - during[k] / nd) for k in keys)


def log_templates(data: RCAInput) -> SignalOutput:
    if not data.logs:
        return SignalOutput("log_templates", {})
    counts = mine_templates(data.baseline_logs, data.logs)
    total_before = sum(sum(c.values()) for c in counts.before.values())
    total_during = sum(sum(c.values()) for c in counts.during.values())
    volume = (total_during + 1.0) / (total_before + 1.0)
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[str, ...]] = {}
    indicator: dict[str, str] = {}
    for service in sorted(set(counts.before) | set(counts.during)):
        before = counts.before.get(service, Counter())
        during = counts.during.get(service, Counter())
        nb, nd = sum(before.values()), sum(during.values())
        lines: list[str] = []
        new = {t: n for t, n in during.items() if t not in before}
        new_errors = sum(n for t, n in new.items() if is_errorish(t))
        new_share = (sum(new.values()) + new_errors) / nd if nd else 0.0
        tv = _tv(before, during) if nb >= MIN_LINES else 0.0
        drift = abs(math.log((nd + 1.0) / (nb * volume + 1.0))) if nb >= MIN_LINES else 0.0
        weight = (nd + nb) / (nd + nb + SHRINK_LINES)
        score = weight * (tv + 0.5 * new_share + 0.25 * min(drift, 3.0))
        if score <= 0.0:
            continue
        scores[service] = score
        if new_errors:
            worst = max((t for t in new if is_errorish(t)), key=lambda t: new[t])
            lines.append(f"log new error template ({new[worst]}x): {worst[:120]}")
            indicator[service] = "log:new_error_template"
        vanished = [t for t, n in before.items() if n >= 3 and t not in during]
        if vanished:
            lines.append(f"log template stopped: {vanished[0][:120]}")
            indicator.setdefault(service, "log:vanished_template")
        if tv >= 0.3:
            lines.append(f"log template mix changed (distance {tv:.2f})")
            indicator.setdefault(service, "log:template_mix")
        evidence[service] = tuple(lines)
    strength = {s: min(1.0, v) for s, v in scores.items()}
    return SignalOutput("log_templates", scores, evidence, indicator, {}, strength)
