"""Log signal: services whose log templates vanished, or that began logging errors.

Signal of the root-cause ranker, built on ``logs.py`` (Drain templates). For
each service, every template's count during the incident is compared with the
count its own baseline predicts, scaled by how much more or less the service
logs now (so a traffic change alone moves nothing). That scale is the middle
ratio of now-to-before counts over the service's common templates (the
median-of-ratios size factor of Anders & Huber, "Differential expression
analysis for sequence count data", Genome Biology 2010), not the ratio of total
lines: one template flooding the log would otherwise make every other
template look as if it had vanished.

- a template that should have appeared ``E`` times but appeared ``o < E`` times
  scores the Poisson surprise ``E - o + o ln(o/E)`` (a fault cuts a code path
  short: the success line after a failing call vanishes);
- an error-like template that appeared more than predicted scores the same
  surprise the other way (new or surging error events, as in LogCluster: Lin et
  al., "Log Clustering based Problem Identification for Online Service Systems",
  ICSE-SEIP 2016). A surging template logged at WARN level counts at half its
  surprise: by the service's own account it is less severe than an ERROR.

Per service, the largest surprise of each kind counts, log-compressed, and the
two are added. Callers of a failing service log errors too; the propagation walk
(``pagerank.py``) moves the blame down to the callee.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.logs import is_errorish, mine_templates
from selfheal.analysis.rca.signal import SignalOutput

COMMON = 3  # a template seen this often before is common enough to scale by
MIN_EXPECTED = 1.0  # a template expected less often than this cannot "vanish"
ERROR_PRIOR = 0.5  # expected count of an error template never seen before
LOG_SCALE = 3.0  # summed log-surprises: a template 20 lines short is fairly sure
# A surging template at WARN level is a lesser event than one at ERROR level
# (the service carried on): its surprise counts at this share.
WARNING_SHARE = 0.5
_WARNING = re.compile(r"\s*\W?(WARN|WARNING)\b", re.I)


def poisson_surprise(observed: float, expected: float) -> float:
    """How unlikely ``observed`` is under Poisson(``expected``), as a deviance term.

    >>> poisson_surprise(0, 12)
    12.0
    >>> round(poisson_surprise(20, 0.5), 1)
    54.3
    """
    if observed <= 0:
        return float(expected)
    return float(observed * math.log(observed / expected) - observed + expected)


def volume_ratio(before: Counter[str], during: Counter[str]) -> float:
    """How much more (or less) a service logs now: the middle now/before ratio
    of its templates seen at least ``COMMON`` times before; the ratio of totals
    when it has none.

    >>> volume_ratio(Counter(a=10, b=10, c=10), Counter(a=20, b=20, c=20, flood=900))
    2.0
    """
    ratios = sorted(during[t] / n for t, n in before.items() if n >= COMMON)
    if ratios:
        return ratios[len(ratios) // 2]
    nb, nd = sum(before.values()), sum(during.values())
    return nd / nb if nb else 0.0


def _surprises(before: Counter[str], during: Counter[str]) -> tuple[float, str, float, str]:
    volume = volume_ratio(before, during)
    vanish, vanish_t, surge, surge_t = 0.0, "", 0.0, ""
    for template in set(before) | set(during):
        expected = before[template] * volume
        observed = during[template]
        if expected >= MIN_EXPECTED and observed < expected:
            s = poisson_surprise(observed, expected)
            if s > vanish:
                vanish, vanish_t = s, template
        if observed > expected and is_errorish(template):
            s = poisson_surprise(observed, max(expected, ERROR_PRIOR))
            if _WARNING.match(template):
                s *= WARNING_SHARE
            if s > surge:
                surge, surge_t = s, template
    return vanish, vanish_t, surge, surge_t


def log_templates(data: RCAInput) -> SignalOutput:
    if not data.logs:
        return SignalOutput("log_templates", {})
    counts = mine_templates(data.baseline_logs, data.logs)
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[str, ...]] = {}
    indicator: dict[str, str] = {}
    for service in sorted(set(counts.before) | set(counts.during)):
        before = counts.before.get(service, Counter())
        during = counts.during.get(service, Counter())
        vanish, vanish_t, surge, surge_t = _surprises(before, during)
        score = math.log1p(vanish) + math.log1p(surge)
        if score <= 0.0:
            continue
        scores[service] = score
        lines = []
        if surge > 0.0:
            lines.append(f"log error template surged ({during[surge_t]}x): {surge_t[:120]}")
            indicator[service] = "log:error_template"
        if vanish > 0.0:
            lines.append(f"log template stopped ({during[vanish_t]}x now): {vanish_t[:120]}")
            indicator.setdefault(service, "log:vanished_template")
        evidence[service] = tuple(lines)
    strength = {s: 1.0 - math.exp(-v / 4.0) for s, v in scores.items()}
    return SignalOutput("log_templates", scores, evidence, indicator, {}, strength, LOG_SCALE)
