"""The loop's vocabulary: pure, immutable values passed between stages.

Every stage (monitoring → analysis → decision → execution) speaks in these
types; the loop (``selfheal.loop``) is the only place where they meet. This
module does no I/O and imports nothing from the rest of the package.

Glossary (one word per concept, used everywhere):

- **sample**: one observed value of one series at one time.
- **series**: a metric name plus its labels (``SeriesKey``).
- **anomaly**: a sample (or log/trace signal) that a detector or rule scored
  above its threshold, with a calibrated score in [0, 1].
- **incident**: anomalies that belong together (time window + service graph).
- **cause**: a ranked root-cause candidate of an incident, with its evidence
  and the propagation path that explains the symptoms.
- **failure type**: the class of a cause (``FailureType``).
- **strategy**: a playbook entry for one failure type: an ordered ladder of
  action templates.
- **action**: one remediation step against one target.
- **plan**: the actions chosen for an incident, cheapest safe rung first.
- **outcome**: how an action ended (``Outcome``).
- **verification**: the check that the symptom is gone after an action.
- **rollback**: undoing an action whose verification failed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SignalKind(enum.StrEnum):
    """Which modality a signal came from."""

    METRIC = "metric"
    LOG = "log"
    TRACE = "trace"


class FailureType(enum.StrEnum):
    """Class of a root cause; decides which strategy applies."""

    RESOURCE_EXHAUSTION = "ResourceExhaustion"
    NETWORK_FAILURE = "NetworkFailure"
    CONFIGURATION_ERROR = "ConfigurationError"
    CODE_BUG = "CodeBug"
    EXTERNAL_DEPENDENCY = "ExternalDependency"
    DATA_CORRUPTION = "DataCorruption"
    UNKNOWN = "Unknown"


class ActionKind(enum.StrEnum):
    """The remediation actions of the seed design."""

    RESTART_SERVICE = "RestartService"
    SCALE_SERVICE = "ScaleService"
    UPDATE_CONFIGURATION = "UpdateConfiguration"
    CLEAR_CACHE = "ClearCache"
    RESTART_CONTAINER = "RestartContainer"
    DRAIN_TRAFFIC = "DrainTraffic"
    FAILOVER = "Failover"
    ROLLBACK_DEPLOYMENT = "RollbackDeployment"


# Parameters that make an UpdateConfiguration a restore of an earlier revision (an exact
# ``revision``, ``restore: previous | last_good``, or the one in effect ``restore_before`` a
# time) rather than a change of settings.
CONFIG_RESTORE_PARAMS = ("revision", "restore", "restore_before")


class Outcome(enum.StrEnum):
    """How one action ended."""

    SUCCEEDED = "succeeded"  # executed and verified
    FAILED = "failed"  # execution raised a permanent error
    ROLLED_BACK = "rolled_back"  # executed, verification failed, undone
    SKIPPED = "skipped"  # validation found nothing to do (e.g. already healthy)
    BLOCKED = "blocked"  # a guard refused it (cooldown, budget, blast radius, pause)
    PENDING_APPROVAL = "pending_approval"
    DENIED = "denied"  # a human said no
    EXPIRED = "expired"  # approval not given in time
    DRY_RUN = "dry_run"  # would have run; dry-run mode


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    REMEDIATING = "remediating"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # handed to a human (recurrence, ladder exhausted, ...)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A metric name plus sorted labels; hashable, usable as a dict key."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    # Hash computed once: keys are looked up several times per sample on the
    # scrape path, and hashing the label tuples each time dominated its cost.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.name, self.labels)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[SeriesKey], tuple[str, tuple[tuple[str, str], ...]]]:
        # string hashes differ between processes: rebuild (and rehash) when unpickled
        return (SeriesKey, (self.name, self.labels))

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None) -> SeriesKey:
        return cls(name, tuple(sorted((labels or {}).items())))

    def label(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return default

    def __str__(self) -> str:
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series at one time (seconds since the epoch)."""

    series: SeriesKey
    timestamp: float
    value: float


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A signal scored above threshold. ``score`` is calibrated to [0, 1]."""

    service: str
    timestamp: float
    score: float
    detector: str
    kind: SignalKind = SignalKind.METRIC
    indicator: str = ""  # e.g. "error_ratio", "latency_p99_seconds", "log:new_template"
    value: float = float("nan")
    instance: str | None = None
    series: SeriesKey | None = None
    message: str = ""

    @property
    def fingerprint(self) -> tuple[str, str | None, str, str]:
        """Identity used to fold duplicates of the same signal."""
        return (self.service, self.instance, self.indicator, self.detector)


class EvidenceKind(enum.StrEnum):
    """What a piece of evidence about a cause is."""

    METRIC = "metric"  # one of the service's indicators moved (robust change)
    ANOMALY = "anomaly"  # a rule or detector flagged one of its indicators
    LOG_ERRORS = "log_errors"  # an error log template surged
    LOG_VANISHED = "log_vanished"  # a log template stopped
    TRACE_LATENCY = "trace_latency"  # its own server time in calls rose
    TRACE_NETWORK = "trace_network"  # calls through it slowed on the network
    TRACE_ERRORS = "trace_errors"  # calls into it fail
    TRACE_PATTERN = "trace_pattern"  # a step its requests used to take stopped
    CAUSALITY = "causality"  # its series leads others' (Granger)
    HISTORY = "history"  # a past incident rooted here looks the same
    FACT = "fact"  # a platform fact or a live rule, named by triage


@dataclass(frozen=True, slots=True)
class Evidence:
    """One structured piece of evidence about a cause, with the line a human reads.

    Decisions read the fields, never ``note``: ``indicator`` is the indicator or
    metric it is about, ``rising`` the direction a metric moved, ``text`` what was
    observed verbatim (a log template, a span name), ``failure_type`` the type of a
    past incident it matches."""

    kind: EvidenceKind
    note: str
    indicator: str = ""
    rising: bool | None = None
    text: str = ""
    failure_type: FailureType | None = None


@dataclass(frozen=True, slots=True)
class Cause:
    """A ranked root-cause candidate, carrying its own explanation."""

    service: str
    confidence: float  # in [0, 1]
    failure_type: FailureType = FailureType.UNKNOWN
    instance: str | None = None
    indicator: str | None = None  # component / indicator when evidence allows
    evidence: tuple[Evidence, ...] = ()
    path: tuple[str, ...] = ()  # propagation path: cause first, symptom last
    impact: tuple[str, ...] = ()  # services hurt by this cause

    def is_confident(self, threshold: float = 0.7) -> bool:
        return self.confidence >= threshold


@dataclass(frozen=True, slots=True)
class Impact:
    """Which services and business metrics an incident hurts, and how badly."""

    services: tuple[str, ...] = ()
    business: Mapping[str, float] = field(default_factory=dict)  # metric -> drop in [0, 1]
    severity: float = 0.0  # 0 (none) .. 1 (total outage)


@dataclass(frozen=True, slots=True)
class Incident:
    """Anomalies grouped into one problem, with its diagnosis."""

    id: str
    opened_at: float
    anomalies: tuple[Anomaly, ...]
    services: frozenset[str]
    causes: tuple[Cause, ...] = ()
    impact: Impact = field(default_factory=Impact)
    status: IncidentStatus = IncidentStatus.OPEN
    updated_at: float = 0.0

    @property
    def top_cause(self) -> Cause | None:
        return self.causes[0] if self.causes else None


@dataclass(frozen=True, slots=True)
class Action:
    """One remediation step against one target (a service, or one instance)."""

    kind: ActionKind
    target: str  # service name
    instance: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    risk: float = 0.0  # in [0, 1]; above the approval level a human must approve
    timeout_seconds: float = 30.0  # how long verification may wait for recovery

    def describe(self) -> str:
        where = f"{self.target}/{self.instance}" if self.instance else self.target
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind.value}({where}{', ' + extra if extra else ''})"


@dataclass(frozen=True, slots=True)
class Strategy:
    """A playbook entry: for a failure type, a ladder of actions, cheapest first."""

    name: str
    failure_type: FailureType
    ladder: tuple[Action, ...]
    success_probability: float = 0.5
    expected_duration_seconds: float = 30.0
    description: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions chosen for one incident's cause, in the order to try them."""

    incident_id: str
    cause: Cause
    strategy: str
    actions: tuple[Action, ...]
    created_at: float
    risk: float = 0.0


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether the symptom was gone after an action."""

    passed: bool
    checked_at: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Rollback:
    """The undoing of an action whose verification failed."""

    restored: bool
    at: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Everything that happened to one action."""

    action: Action
    outcome: Outcome
    started_at: float
    finished_at: float
    verification: Verification | None = None
    rollback: Rollback | None = None
    detail: str = ""
