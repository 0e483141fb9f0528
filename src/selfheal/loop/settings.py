"""The engine's settings: cycle timing, confidence, verification and patience.

Built by ``selfheal.loop.wiring`` from the ``loop``, ``rca``, ``approval`` and
``correlation`` sections of the configuration; read by the engine and its parts
(diagnosis, remediation, incident book). Every field says its unit and why its
default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineSettings:
    # Seconds between two cycles. 2 s: detection within two scrape intervals of 1-5 s.
    cycle_seconds: float = 2.0
    # Causes below this confidence are not acted on (the seed design's 0.7).
    rca_threshold: float = 0.7
    # Seconds before an unanswered approval expires.
    approval_expiry_seconds: float = 900.0
    # Decide and record, never execute.
    dry_run: bool = False
    # Consecutive healthy cycles that prove the symptom gone (one could be a lull).
    verify_cycles: int = 2
    # An incident with no rule anomaly for this long, and nothing running, resolves.
    resolve_after_seconds: float = 10.0
    # Diagnoses without new evidence before an incident with no confident cause escalates.
    diagnose_attempts: int = 10
    # Indecision is bounded: an incident still without a confident cause this long after
    # its first diagnosis escalates even while evidence keeps arriving, seconds. 30 s: a
    # fault's symptoms have spread through the call graph well before.
    decide_within_seconds: float = 30.0
    # Evidence gathered before the first diagnosis, seconds (symptoms that the same fault
    # causes elsewhere arrive a scrape later).
    diagnose_after_seconds: float = 0.0
    # After a heal, its echoes elsewhere are left this long to fade before they count as
    # faults of their own, seconds.
    settle_seconds: float = 8.0
    # A deploy or config push this recent (seconds before the incident) may be its cause.
    change_window_seconds: float = 900.0
    # A restart or cache clear whose target is healthy again while the symptom has not
    # eased once for this long did not reach the cause: give up on it before its timeout
    # (0 disables). Actions whose rollback restores state always wait for their timeout.
    early_verdict_seconds: float = 12.0
    # How long after an action the platform changes of its kind count as the loop's own
    # (beyond the action's timeout), seconds: the platform reports a change a few cycles
    # after it is made.
    own_change_slack_seconds: float = 60.0
