"""A planning context shaped like the demo shop, shared by the decision tests."""

from __future__ import annotations

from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext, ServiceState
from selfheal.core.types import Cause, FailureType, Incident

NOW = 1_700_000_000.0


def shop(
    changes: tuple[ChangeEvent, ...] = (),
    unready: dict[str, frozenset[str]] | None = None,
    criticality: float = 0.5,
) -> PlanningContext:
    unready = unready or {}

    def svc(
        name: str,
        n: int,
        deps: dict[str, str] | None = None,
        external: bool = False,
        role: str = "",
    ) -> ServiceState:
        return ServiceState(
            name=name,
            instances=tuple(f"{name}-{i}" for i in range(n)),
            unready=unready.get(name, frozenset()),
            version="v2",
            config_revision=3,
            dependencies=deps or {},
            criticality=criticality,
            external=external,
            role=role,
        )

    services = [
        svc("frontend", 2, {"checkout": "checkout", "cart": "cart"}),
        svc("checkout", 2, {"payment": "payment", "cart": "cart"}),
        svc("cart", 3, {"cache": "cache"}),
        svc("payment", 2, {"bank": "bank"}),
        svc("cache", 1, role="cache"),
        svc("bank", 1, external=True),
        svc("bank-b", 1, external=True),
    ]
    return PlanningContext(services={s.name: s for s in services}, changes=changes)


def incident(iid: str = "inc-1") -> Incident:
    return Incident(id=iid, opened_at=NOW, anomalies=(), services=frozenset({"cart"}))


def cause(
    service: str,
    failure_type: FailureType,
    instance: str | None = None,
    indicator: str | None = None,
    confidence: float = 0.9,
) -> Cause:
    return Cause(
        service=service,
        confidence=confidence,
        failure_type=failure_type,
        instance=instance,
        indicator=indicator,
    )


def deploy(service: str, at: float, before: str = "v1", after: str = "v2") -> ChangeEvent:
    return ChangeEvent(service, ChangeKind.DEPLOY, at, before, after)


def config_push(service: str, at: float, before: str = "2", after: str = "3") -> ChangeEvent:
    return ChangeEvent(service, ChangeKind.CONFIG, at, before, after)
