"""Playbooks: strategies per failure type, declared in YAML.

The planner (``selfheal.decision.planner``) asks the playbook which strategies
fit a cause; this module only loads, validates and holds them, and learns each
strategy's success probability from history (``record_outcome``). It does no
I/O besides reading the YAML file it is pointed at.

A strategy is an escalation ladder of action templates, cheapest safe rung
first. Templates reference the cause: ``{service}``, ``{instance}``,
``{indicator}``, ``{dependency}``, ``{dependent}``, ``{cache}``. Selection is customised to
the cause by ``indicators`` (substrings of ``Cause.indicator``),
``prerequisites`` (named checks, see ``PREREQUISITES``) and ``priority``.

The learned success probability is the mean of a Beta posterior whose prior is
the playbook's ``success_probability`` worth ``prior_weight`` pseudo-outcomes
(the standard Beta–Bernoulli update, e.g. Gelman et al., *Bayesian Data
Analysis*, ch. 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from selfheal.core.errors import ConfigError
from selfheal.core.types import Action, ActionKind, FailureType, Strategy
from selfheal.core.yaml_input import load_yaml, validation_problems

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")

#: Named prerequisites a strategy may require; evaluated by the planner.
PREREQUISITES: Mapping[str, str] = {
    "instance_known": "the cause names one instance",
    "no_instance": "the cause names no instance (service-wide)",
    "multiple_instances": "the service has at least two instances",
    "recent_deploy": "the service got a new version within the change window",
    "recent_config_change": "the service got a new config revision within the change window",
    "no_recent_change": "no deploy and no config push within the change window",
    "dependency_known": "the failing external dependency and a dependent service are known",
}


class _RungModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ActionKind
    target: str = "{service}"
    instance: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30.0, gt=0)


class _StrategyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    failure_types: list[FailureType] = Field(min_length=1)
    ladder: list[_RungModel] = Field(min_length=1)
    description: str = ""
    indicators: list[str] = Field(default_factory=list)
    prerequisites: list[str] = Field(default_factory=list)
    priority: int = 0
    success_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    expected_duration_seconds: float = Field(default=30.0, gt=0)
    change_window_seconds: float = Field(default=900.0, gt=0)
    rollback: str = ""

    @field_validator("prerequisites")
    @classmethod
    def _known_prerequisites(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PREREQUISITES]
        if unknown:
            raise ValueError(f"unknown prerequisite(s) {unknown}; known: {sorted(PREREQUISITES)}")
        return value


class _PlaybookModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=1, ge=1, le=1)
    prior_weight: float = Field(default=4.0, gt=0)
    strategies: list[_StrategyModel] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class PlaybookEntry:
    """One strategy plus how to select it."""

    strategy: Strategy  # ladder of templates; failure_type is the first listed
    failure_types: frozenset[FailureType]
    indicators: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    priority: int = 0
    change_window_seconds: float = 900.0
    rollback: str = ""  # the rollback plan, in words
    order: int = 0  # position in the file; last tie-breaker

    @property
    def name(self) -> str:
        return self.strategy.name

    def matches_indicator(self, indicator: str | None) -> bool:
        """Whole-word match (``up`` matches ``up`` but not ``upstream``); a pattern with
        punctuation (``log:new``) matches as a substring."""
        if not self.indicators:
            return True
        text = (indicator or "").lower()
        words = set(_WORD_SPLIT.split(text))
        for pattern in (i.lower() for i in self.indicators):
            if (pattern in words) if pattern.isalnum() else (pattern in text):
                return True
        return False


@dataclass(slots=True)
class _Tally:
    successes: int = 0
    failures: int = 0


@dataclass(slots=True)
class Playbook:
    """Strategies by failure type, with success probabilities learned from history."""

    entries: tuple[PlaybookEntry, ...]
    prior_weight: float = 4.0
    source: str = "<memory>"
    _tallies: dict[str, _Tally] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> Playbook:
        """Parse and validate playbook YAML; errors name the bad key and the file."""
        raw = load_yaml(text, source)
        try:
            model = _PlaybookModel.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(validation_problems(exc))
            raise ConfigError(f"{source}: invalid playbook: {problems}") from None
        names = [s.name for s in model.strategies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{source}: strategies.name: duplicate strategy names {dupes}")
        return cls(
            entries=tuple(_entry(m, i) for i, m in enumerate(model.strategies)),
            prior_weight=model.prior_weight,
            source=source,
        )

    @classmethod
    def load(cls, path: str | Path) -> Playbook:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read playbook: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
        return cls.from_yaml(text, source=str(p))

    @classmethod
    def default(cls) -> Playbook:
        """The shipped playbook (``default_playbook.yaml``)."""
        text = (
            resources.files("selfheal.decision")
            .joinpath("default_playbook.yaml")
            .read_text(encoding="utf-8")
        )
        return cls.from_yaml(text, source="selfheal/decision/default_playbook.yaml")

    def overridden_by(self, other: Playbook) -> Playbook:
        """This playbook with ``other``'s strategies replacing same-named ones and added after."""
        theirs = {e.name for e in other.entries}
        kept = [e for e in self.entries if e.name not in theirs]
        merged = [*kept, *other.entries]
        return Playbook(
            entries=tuple(_reorder(e, i) for i, e in enumerate(merged)),
            prior_weight=other.prior_weight,
            source=f"{self.source} + {other.source}",
        )

    def entry(self, name: str) -> PlaybookEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(f"no strategy named {name!r} in {self.source}")

    def candidates(self, failure_type: FailureType) -> tuple[PlaybookEntry, ...]:
        """Entries that declare ``failure_type``, in file order."""
        return tuple(e for e in self.entries if failure_type in e.failure_types)

    def strategies(self, failure_type: FailureType | None = None) -> tuple[Strategy, ...]:
        """Core strategies (with learned success probabilities), optionally for one type."""
        chosen: Iterable[PlaybookEntry] = (
            self.entries if failure_type is None else self.candidates(failure_type)
        )
        return tuple(self.learned(e.strategy) for e in chosen)

    def record_outcome(self, strategy: str, success: bool) -> float:
        """Count one outcome of ``strategy``; return its updated success probability."""
        self.entry(strategy)  # raises on unknown names
        tally = self._tallies.setdefault(strategy, _Tally())
        if success:
            tally.successes += 1
        else:
            tally.failures += 1
        return self.success_probability(strategy)

    def restore_outcomes(self, counts: Mapping[str, tuple[int, int]]) -> tuple[str, ...]:
        """Start from outcome counts saved earlier (``(successes, failures)`` by
        strategy); returns the names this playbook no longer has, which are left out."""
        unknown = []
        for name, (successes, failures) in sorted(counts.items()):
            if not any(e.name == name for e in self.entries):
                unknown.append(name)
                continue
            if successes < 0 or failures < 0:
                raise ValueError(f"strategy {name!r}: negative outcome counts")
            self._tallies[name] = _Tally(int(successes), int(failures))
        return tuple(unknown)

    def outcomes(self, strategy: str) -> tuple[int, int]:
        tally = self._tallies.get(strategy, _Tally())
        return tally.successes, tally.failures

    def success_probability(self, strategy: str) -> float:
        """Posterior mean: prior worth ``prior_weight`` outcomes, plus observed outcomes."""
        prior = self.entry(strategy).strategy.success_probability
        s, f = self.outcomes(strategy)
        return (prior * self.prior_weight + s) / (self.prior_weight + s + f)

    def learned(self, strategy: Strategy) -> Strategy:
        return Strategy(
            name=strategy.name,
            failure_type=strategy.failure_type,
            ladder=strategy.ladder,
            success_probability=self.success_probability(strategy.name),
            expected_duration_seconds=strategy.expected_duration_seconds,
            description=strategy.description,
        )


def _entry(m: _StrategyModel, order: int) -> PlaybookEntry:
    ladder = tuple(
        Action(
            kind=r.kind,
            target=r.target,
            instance=r.instance,
            params=dict(r.params),
            timeout_seconds=r.timeout_seconds,
        )
        for r in m.ladder
    )
    strategy = Strategy(
        name=m.name,
        failure_type=m.failure_types[0],
        ladder=ladder,
        success_probability=m.success_probability,
        expected_duration_seconds=m.expected_duration_seconds,
        description=m.description,
    )
    return PlaybookEntry(
        strategy=strategy,
        failure_types=frozenset(m.failure_types),
        indicators=tuple(m.indicators),
        prerequisites=tuple(m.prerequisites),
        priority=m.priority,
        change_window_seconds=m.change_window_seconds,
        rollback=m.rollback,
        order=order,
    )


def _reorder(e: PlaybookEntry, order: int) -> PlaybookEntry:
    return PlaybookEntry(
        strategy=e.strategy,
        failure_types=e.failure_types,
        indicators=e.indicators,
        prerequisites=e.prerequisites,
        priority=e.priority,
        change_window_seconds=e.change_window_seconds,
        rollback=e.rollback,
        order=order,
    )
