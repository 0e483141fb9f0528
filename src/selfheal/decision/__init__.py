"""Decision layer: from a diagnosed cause to a safe, ordered plan.

Called by the loop after analysis: the ``Planner`` picks a playbook strategy
for the cause and renders its escalation ladder with risk per action; ``Guards``
decide whether each action may run now (pause, maintenance, storm, recurrence,
circuit breaker, budget, cooldown, blast radius, approval), within the limits of
the configuration's ``guards`` section; the requests a human answers are kept by
the store (``selfheal.store.approvals``). Pure logic plus playbook loading: no
HTTP, no platform calls.
"""

from selfheal.decision.guards import BreakerState, GuardDecision, Guards, Verdict, target_key
from selfheal.decision.planner import Decision, Planner, dependency_pairs
from selfheal.decision.playbook import PREREQUISITES, Playbook, PlaybookEntry
from selfheal.decision.risk import Assessment, assess

__all__ = [
    "PREREQUISITES",
    "Assessment",
    "BreakerState",
    "Decision",
    "GuardDecision",
    "Guards",
    "Planner",
    "Playbook",
    "PlaybookEntry",
    "Verdict",
    "assess",
    "dependency_pairs",
    "target_key",
]
