"""The executor seam: how the execution layer drives one platform.

The ``ActionRunner`` (``selfheal.execution.runner``) calls an ``Executor`` in a
fixed order for every action: ``validate`` (does the target exist, is there
capacity, is there anything to do?), ``snapshot`` (capture what is needed to
undo, *before* anything changes), ``execute``, and — only when the loop's
verification fails — ``rollback`` with that snapshot. Executors raise ``TemporaryError``
(retry later) or ``PermanentError`` (give up) from ``selfheal.core.errors``;
they never verify and never decide whether to act.

Parameter contract shared by every executor (the planner renders these):

- ScaleService: ``replicas`` (absolute) or ``delta`` (relative, default +1).
- UpdateConfiguration: ``revision`` (restore that revision), ``restore_before``
  (restore the newest revision created before that time), ``restore:
  "previous"`` (the revision before the current one), ``patch`` (keys merged
  into the current config), ``multiply`` (numeric keys multiplied).
- RollbackDeployment: ``version`` (optional; default the previous version).
- Failover: ``dependency`` (required), ``to`` (optional; the standby).
- RestartContainer / DrainTraffic: the action's ``instance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from selfheal.core.types import Action


@dataclass(frozen=True, slots=True)
class Validation:
    """Whether an action may and needs to run."""

    ok: bool  # the action is possible (target exists, capacity allows)
    skip: bool = False  # possible but nothing to do (already in the wanted state)
    reason: str = ""

    @classmethod
    def proceed(cls, reason: str = "") -> Validation:
        return cls(True, False, reason)

    @classmethod
    def nothing_to_do(cls, reason: str) -> Validation:
        return cls(True, True, reason)

    @classmethod
    def refuse(cls, reason: str) -> Validation:
        return cls(False, False, reason)


@dataclass(frozen=True, slots=True)
class Undo:
    """What ``snapshot`` captured to undo an action; ``reversible=False`` says why not."""

    action: Action
    reversible: bool
    description: str  # what the undo will do, or why there is none
    state: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def none(cls, action: Action, why: str) -> Undo:
        return cls(action, False, why)


@runtime_checkable
class Executor(Protocol):
    """One platform's implementation of the remediation actions."""

    name: str

    def validate(self, action: Action) -> Validation:
        """Check the target exists, capacity allows it, and there is something to do."""
        ...

    def snapshot(self, action: Action) -> Undo:
        """Capture what is needed to undo ``action``; called before ``execute``."""
        ...

    def execute(self, action: Action) -> str:
        """Carry the action out; return a one-line detail of what changed."""
        ...

    def rollback(self, action: Action, undo: Undo) -> str:
        """Undo ``action`` from its snapshot; return a one-line detail."""
        ...
