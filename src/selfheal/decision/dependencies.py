"""Which services an action should target when the cause alone does not say.

The planner renders ``{dependent}``, ``{dependency}`` and ``{cache}`` in playbook
templates with these: the service to fail over and the external dependency it
fails over from, and the cache to clear when the errors surface at its caller.
They read only the planning context (the platform's dependency wiring and its
``external`` flags). Pure functions; no I/O.
"""

from __future__ import annotations

import re

from selfheal.core.platform import ROLE_CACHE, PlanningContext
from selfheal.core.types import Cause

_WORD = re.compile(r"[A-Za-z0-9_.-]+")


def is_external(name: str, context: PlanningContext) -> bool:
    """Whether ``name`` is an external dependency (a provider one can fail over from).

    Uses the platform's ``external`` flag when the context carries any; otherwise a
    service the platform knows that depends on nothing (a leaf of the call graph), or
    one the platform does not list at all.
    """
    state = context.service(name)
    if any(s.external for s in context.services.values()):
        return state is not None and state.external
    return state is None or not state.dependencies


def dependency_pairs(cause: Cause, context: PlanningContext) -> list[tuple[str, str]]:
    """(dependent service, dependency name) pairs a failover could fix.

    The cause is either the external dependency itself (every service wired to it,
    by name or by current target) or a service whose external dependency the
    indicator or evidence names (or whose only external dependency it is). Internal
    services are never failed over from.
    """
    pairs: list[tuple[str, str]] = []
    for state in sorted(context.services.values(), key=lambda s: s.name):
        for name, target in state.dependencies.items():
            if cause.service in (name, target) and state.name != cause.service:
                pairs.append((state.name, name))
    if pairs and is_external(cause.service, context):
        return pairs
    own = context.service(cause.service)
    if own is None:
        return []
    external = [d for d in own.dependencies if is_external(own.dependencies[d], context)]
    words = set(_WORD.findall(cause.indicator or "")) | set(
        w for e in cause.evidence for w in _WORD.findall(e.indicator)
    )
    named = [d for d in external if d in words]
    if len(named) == 1:
        return [(cause.service, named[0])]
    if len(external) == 1:
        return [(cause.service, external[0])]
    return []


def cache_service(cause: Cause, context: PlanningContext) -> str | None:
    """The cache to clear: the cause's service if the platform calls it a cache, else the
    cache it depends on; ``None`` when the platform names caches and neither is one.

    Corrupt cache entries often surface as errors of the cache's caller, so the
    cause may name the caller; a dependency (or its current target) whose role is
    ``cache`` is the cache it reads from. A platform that gives no roles at all leaves
    the cause's own service (it may hold an in-process cache; its executor says no
    otherwise).
    """
    if context.role(cause.service) == ROLE_CACHE:
        return cause.service
    state = context.service(cause.service)
    caches = sorted(
        target
        for name, target in (state.dependencies if state else {}).items()
        if ROLE_CACHE in (context.role(name), context.role(target))
    )
    if caches:
        return caches[0]
    roles_known = any(s.role == ROLE_CACHE for s in context.services.values())
    return None if roles_known else cause.service
