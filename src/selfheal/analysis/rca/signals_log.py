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

When the lines carry span ids and the spans are known (trace-aware logging, as
in Nezha's data), lines are counted per *operation* of the span they were
written in, and the expected count scales with how many spans of that
operation ran in each period (the exposure of a Poisson rate model), not with
the service's overall volume: a service whose request mix shifts between its
operations then shows no change, while an operation that stopped writing a line
it used to write for every request stands out. Spans are counted only in the
seconds the logs cover (a trace minute without its log minute says nothing
about missing lines). Lines without a known span keep the volume scale.

Error lines are not a steady rate: they come in bursts tied to transient
trouble. An error template counts as *vanished* only as far as the recent part
of the baseline (the last ``RECENT_SECONDS`` before the incident) also expects
it: a burst in an older stretch of the baseline (a past incident's tail, a
deployment's warm-up) that has long stopped is not a change at the fault. (An
operation that did not run at all in the recent part, or a service that logged
nothing there, keeps the whole baseline: the recent part cannot tell then.)

Per service, the largest surprise of each kind counts, log-compressed, and the
two are added. Callers of a failing service log errors too; the propagation walk
(``pagerank.py``) moves the blame down to the callee.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.logs import is_errorish, templates_of
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.types import Evidence, EvidenceKind

COMMON = 3  # a template seen this often before is common enough to scale by
MIN_EXPECTED = 1.0  # a template expected less often than this cannot "vanish"
ERROR_PRIOR = 0.5  # expected count of an error template never seen before
LOG_SCALE = 3.0  # summed log-surprises: a template 20 lines short is fairly sure
# A surging template at WARN level is a lesser event than one at ERROR level
# (the service carried on): its surprise counts at this share.
WARNING_SHARE = 0.5
# An error template must also be expected in this recent part of the baseline to
# count as vanished (see the module docstring).
RECENT_SECONDS = 300.0
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


def _surprises(
    before: Counter[str],
    during: Counter[str],
    volume: float,
    recent: Counter[str] | None = None,
    recent_volume: float | None = None,
) -> tuple[float, str, float, str]:
    """The largest vanish and error-surge surprise of one unit's templates.

    ``recent``/``recent_volume``: the counts and scale of the baseline's recent
    part; when given, an error template's vanish surprise is at most what the
    recent part alone predicts."""
    vanish, vanish_t, surge, surge_t = 0.0, "", 0.0, ""
    for template in set(before) | set(during):
        expected = before[template] * volume
        observed = during[template]
        if expected >= MIN_EXPECTED and observed < expected:
            s = poisson_surprise(observed, expected)
            if recent is not None and recent_volume is not None and is_errorish(template):
                lately = recent[template] * recent_volume
                s = min(s, poisson_surprise(observed, lately) if observed < lately else 0.0)
            if s > vanish:
                vanish, vanish_t = s, template
        if observed > expected and is_errorish(template):
            s = poisson_surprise(observed, max(expected, ERROR_PRIOR))
            if _WARNING.match(template):
                s *= WARNING_SHARE
            if s > surge:
                surge, surge_t = s, template
    return vanish, vanish_t, surge, surge_t


Unit = tuple[str, str | None]  # (service, operation); None: lines without a known span


def _operations(data: RCAInput) -> tuple[dict[str, tuple[str, str]], Counter[tuple[int, Unit]]]:
    """Each known span's (service, operation), and per period how many spans of each
    operation ran while the logs were being collected (see the module docstring).

    Periods: 0 the baseline, 1 the incident, 2 the baseline's recent part."""
    if not (data.spans or data.baseline_spans) or not any(r.span_id for r in data.logs):
        return {}, Counter()
    covered = {int(r.timestamp) for r in data.baseline_logs}
    covered.update(int(r.timestamp) for r in data.logs)
    where: dict[str, tuple[str, str]] = {}
    exposure: Counter[tuple[int, Unit]] = Counter()
    timed = [(s, None) for s in data.baseline_spans] + [(s, s.timestamp) for s in data.spans]
    for span, at in timed:
        where[span.span_id] = (span.service, span.operation)
        second = int(span.timestamp)
        if not (second in covered or second - 1 in covered or second + 1 in covered):
            continue
        if at is None or at < data.start:
            exposure[(0, (span.service, span.operation))] += 1
            if data.start - RECENT_SECONDS <= span.timestamp < data.start:
                exposure[(2, (span.service, span.operation))] += 1
        elif at <= data.end:
            exposure[(1, (span.service, span.operation))] += 1
    return where, exposure


def log_templates(data: RCAInput) -> SignalOutput:
    if not data.logs:
        return SignalOutput("log_templates", {})
    where, exposure = _operations(data)
    units: dict[Unit, tuple[Counter[str], Counter[str]]] = {}
    totals: dict[str, tuple[Counter[str], Counter[str]]] = {}
    recent_units: dict[Unit, Counter[str]] = {}
    recent_totals: dict[str, Counter[str]] = {}
    recent_from = data.start - RECENT_SECONDS
    for period, line, template in templates_of(data.baseline_logs, data.logs):
        known = where.get(line.span_id) if line.span_id else None
        operation = known[1] if known is not None and known[0] == line.service else None
        units.setdefault((line.service, operation), (Counter(), Counter()))[period][template] += 1
        totals.setdefault(line.service, (Counter(), Counter()))[period][template] += 1
        if period == 0 and line.timestamp >= recent_from:
            recent_units.setdefault((line.service, operation), Counter())[template] += 1
            recent_totals.setdefault(line.service, Counter())[template] += 1
    volume = {svc: volume_ratio(before, during) for svc, (before, during) in totals.items()}
    best: dict[str, tuple[float, str, float, str]] = {}
    for (service, operation), (before, during) in sorted(units.items(), key=str):
        ran = exposure[(0, (service, operation))]
        scale = (
            exposure[(1, (service, operation))] / ran
            if operation is not None and ran > 0
            else volume[service]
        )
        recent_scale: float | None = None
        if operation is not None:
            lately = exposure[(2, (service, operation))]
            recent_scale = exposure[(1, (service, operation))] / lately if lately > 0 else None
        elif service in recent_totals:
            recent_scale = volume_ratio(recent_totals[service], totals[service][1])
        recent = recent_units.get((service, operation), Counter())
        v, vt, g, gt = _surprises(before, during, scale, recent, recent_scale)
        vanish, vanish_t, surge, surge_t = best.get(service, (0.0, "", 0.0, ""))
        if v > vanish:
            vanish, vanish_t = v, vt
        if g > surge:
            surge, surge_t = g, gt
        best[service] = (vanish, vanish_t, surge, surge_t)
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[Evidence, ...]] = {}
    indicator: dict[str, str] = {}
    for service in sorted(best):
        during = totals[service][1]
        vanish, vanish_t, surge, surge_t = best[service]
        score = math.log1p(vanish) + math.log1p(surge)
        if score <= 0.0:
            continue
        scores[service] = score
        lines = []
        if surge > 0.0:
            lines.append(
                Evidence(
                    EvidenceKind.LOG_ERRORS,
                    f"log error template surged ({during[surge_t]}x): {surge_t[:120]}",
                    "log:error_template",
                    rising=True,
                    text=surge_t,
                )
            )
            indicator[service] = "log:error_template"
        if vanish > 0.0:
            lines.append(
                Evidence(
                    EvidenceKind.LOG_VANISHED,
                    f"log template stopped ({during[vanish_t]}x now): {vanish_t[:120]}",
                    "log:vanished_template",
                    rising=False,
                    text=vanish_t,
                )
            )
            indicator.setdefault(service, "log:vanished_template")
        evidence[service] = tuple(lines)
    strength = {s: 1.0 - math.exp(-v / 4.0) for s, v in scores.items()}
    return SignalOutput("log_templates", scores, evidence, indicator, {}, strength, LOG_SCALE)
