"""History signal: does this incident look like one we diagnosed before?

Signal of the root-cause ranker. The loop stores each resolved incident as a
``PastIncident``: a symptom signature (``"service:indicator" -> strength``) and
the root service that fixed it. A new incident's signature is compared with
each stored one by cosine similarity; each past root service scores the best
similarity among the incidents it caused (case-based reasoning as in Microsoft's
incident-similarity work, e.g. Lou et al., "Software Analytics for Incident
Management of Online Services", ASE 2013, and Nezha's pattern matching). With no
past incidents the signal sees nothing and drops out of the combination.

A past incident whose root shows no symptom now (none of its own indicators, and
no caller's view of calls into it, moved) needs a near-identical picture
(``SILENT_ROOT_SIMILARITY``): different faults share their downstream symptoms
(the entry service's error ratio, its latency), and in the demo shop different
faults reached similarities of 0.56-0.78 through those alone, with the old root
silent, while a cache corruption that came back (its root shows nothing itself,
its caller fails) matched its first occurrence at 0.93.

>>> sig = {"billing:error_ratio": 1.0, "api:error_ratio": 0.8}
>>> round(cosine(sig, {"billing:error_ratio": 0.9, "api:error_ratio": 0.7}), 3)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from selfheal.analysis.rca.change import indicator_changes
from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.types import Evidence, EvidenceKind

MIN_SIMILARITY = 0.5
SILENT_ROOT_SIMILARITY = 0.9  # when the past root shows no symptom now
SIGNATURE_SATURATION = 10.0


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def shows(signature: Mapping[str, float], service: str) -> bool:
    """Whether ``service`` has a symptom in ``signature``: one of its own indicators
    (``"service:..."``) or a caller's view of calls into it (``"...:service"``).

    >>> shows({"api:upstream_error_ratio:billing": 0.6}, "billing")
    True
    >>> shows({"web:error_ratio": 0.9}, "billing")
    False
    """
    return any(k.split(":", 1)[0] == service or k.endswith(f":{service}") for k in signature)


def incident_signature(data: RCAInput) -> dict[str, float]:
    """The incident's symptoms as ``"service:indicator" -> strength`` in [0, 1].

    The loop stores this with the confirmed root service once an incident is
    resolved (``PastIncident(signature, root_service, failure_type)``)."""
    sig: dict[str, float] = {}
    for c in indicator_changes(data):
        if c.score >= 3.0:
            key = f"{c.service}:{c.indicator}"
            sig[key] = max(sig.get(key, 0.0), 1.0 - math.exp(-c.score / SIGNATURE_SATURATION))
    for a in data.anomalies:
        key = f"{a.service}:{a.indicator or a.detector}"
        sig[key] = max(sig.get(key, 0.0), min(1.0, max(0.0, a.score)))
    return sig


def past_incidents(data: RCAInput) -> SignalOutput:
    if not data.past_incidents:
        return SignalOutput("history", {})
    now = incident_signature(data)
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[Evidence, ...]] = {}
    for past in data.past_incidents:
        sim = cosine(now, past.signature)
        needed = MIN_SIMILARITY if shows(now, past.root_service) else SILENT_ROOT_SIMILARITY
        if sim >= needed and sim > scores.get(past.root_service, 0.0):
            scores[past.root_service] = sim
            evidence[past.root_service] = (
                Evidence(
                    EvidenceKind.HISTORY,
                    f"history: matches a past {past.failure_type.value} incident "
                    f"rooted here (similarity {sim:.2f})",
                    failure_type=past.failure_type,
                ),
            )
    return SignalOutput("history", scores, evidence, {}, {}, {}, scale=0.5)
