"""Topology files: the YAML format of ``docs/topology.md`` read into a
``Topology``, and the topologies shipped in ``topologies/`` found by name.

Pydantic checks each key's type and range; the checks across keys (a call to
a service that does not exist, a cycle, a standby that cannot stand in, a
service nobody reaches) follow. Any error is one ``TopologyError`` line that
names the file and the key (``services[3].role: ...``). Used by the testbed's
command line, the demo and the scenario generator; never by the product.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from selfheal.core.errors import ConfigError
from selfheal.core.yaml_input import load_yaml
from selfheal.testbed.errors import TestbedError
from selfheal.testbed.topology import (
    CACHE_ROUTES,
    COUNTERS,
    DATABASE_ROUTES,
    STORE_ROLES,
    CallSpec,
    JourneySpec,
    Role,
    RouteSpec,
    ServiceSpec,
    Topology,
)

DEFAULT_TOPOLOGY = "shop"
"""The shipped topology the testbed runs when none is named."""

TOPOLOGIES_ENV = "SELFHEAL_TOPOLOGIES"
"""A folder to look for shipped topology names in before the repository's ``topologies/``."""

ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
RouteName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
CallRef = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}(\.[a-z][a-z0-9_]{0,39})?$")
]
Path_ = Annotated[str, StringConstraints(pattern=r"^(/[A-Za-z0-9_.{}-]+)+$")]


class TopologyError(TestbedError):
    """A topology file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteModel(_Strict):
    name: RouteName
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    path: Path_
    calls: list[CallRef] = Field(default_factory=list)


class ServiceModel(_Strict):
    name: ServiceName
    role: Role = Role.SERVICE
    replicas: int = Field(default=1, ge=0, le=16)
    criticality: float | None = Field(default=None, ge=0.0, le=1.0)
    counters: list[Literal["orders", "payments"]] = Field(default_factory=list)
    standby: ServiceName | None = None
    calls: list[CallRef] = Field(default_factory=list)
    routes: list[RouteModel] | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class JourneyModel(_Strict):
    name: RouteName
    weight: float = Field(default=1.0, gt=0.0)
    steps: list[RouteName] = Field(min_length=1)


class TopologyModel(_Strict):
    name: ServiceName
    description: str = ""
    services: list[ServiceModel] = Field(min_length=1)
    journeys: list[JourneyModel] | None = None
    metrics: Literal["native", "opentelemetry"] = "native"


def parse_topology(data: Any, source: str = "topology") -> Topology:
    """A validated ``Topology`` from the parsed YAML ``data``; ``TopologyError`` names the key."""
    try:
        model = TopologyModel.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise TopologyError(f"{source}: {_key(err['loc'])}: {_message(err)}") from None
    try:
        return _build(model)
    except _KeyError as exc:
        raise TopologyError(f"{source}: {exc.key}: {exc.message}") from None


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Read and validate a topology file."""
    p = Path(path)
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise TopologyError(f"{p}: topology file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"{p}: cannot read the topology: {exc}") from None
    except ConfigError as exc:  # not YAML, too deep, an alias bomb: one line already
        raise TopologyError(str(exc)) from None
    return parse_topology(data, str(p))


def shipped_dir() -> Path | None:
    """The folder of the shipped topologies: ``$SELFHEAL_TOPOLOGIES``, else the
    repository's ``topologies/`` (found from a clone and after ``pip install -e``)."""
    override = os.environ.get(TOPOLOGIES_ENV)
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "topologies"
        if (candidate / f"{DEFAULT_TOPOLOGY}.yaml").is_file():
            return candidate
    return None


def shipped_topologies() -> dict[str, Path]:
    """Shipped topology name → file."""
    folder = shipped_dir()
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_topology(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """The file of a shipped topology name (``shop``) or of a path; the default if ``None``."""
    wanted = os.fspath(name_or_path) if name_or_path is not None else DEFAULT_TOPOLOGY
    if os.path.sep in wanted or wanted.endswith((".yaml", ".yml")) or os.path.exists(wanted):
        return Path(wanted)
    shipped = shipped_topologies()
    if wanted in shipped:
        return shipped[wanted]
    known = ", ".join(shipped) or f"none found (set ${TOPOLOGIES_ENV})"
    raise TopologyError(f"unknown topology {wanted!r}; shipped: {known}")


def find_topology(name_or_path: str | os.PathLike[str] | None = None) -> Topology:
    """``load_topology(resolve_topology(name_or_path))``."""
    return load_topology(resolve_topology(name_or_path))


# -- cross-key checks ------------------------------------------------------------------
class _KeyError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key missing"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{err['msg']}{shown}"


def _build(model: TopologyModel) -> Topology:
    by_name: dict[str, tuple[int, ServiceModel]] = {}
    for i, s in enumerate(model.services):
        if s.name in by_name:
            raise _KeyError(f"services[{i}].name", f"duplicate service {s.name!r}")
        by_name[s.name] = (i, s)
    entries = [i for i, s in enumerate(model.services) if s.role == Role.ENTRY]
    if len(entries) != 1:
        raise _KeyError("services", f"exactly one service needs role entry, found {len(entries)}")
    for i, s in enumerate(model.services):
        _check_service(i, s, by_name)
    raw = tuple(_service(i, s) for i, s in enumerate(model.services))
    by_spec = {s.name: s for s in raw}
    services = tuple(
        _resolve_routes(i, s, by_spec, model.services[i].routes is None) for i, s in enumerate(raw)
    )
    for i, spec in enumerate(services):
        if spec.standby is not None:
            _check_standby(i, spec, by_spec[spec.standby])
    _check_acyclic(services)
    entry = services[entries[0]]
    if entry.replicas < 1:
        raise _KeyError(f"services[{entries[0]}].replicas", "the entry needs at least one")
    journeys = _journeys(model, entry)
    topology = Topology(model.name, services, journeys, model.description, model.metrics)
    reached: set[str] = set()
    for j in journeys:
        reached |= topology.journey_reach(j)
    for i, spec in enumerate(services):
        if spec.name not in reached:
            raise _KeyError(f"services[{i}]", f"{spec.name} is reached by no journey")
    return topology


def _check_service(i: int, s: ServiceModel, by_name: dict[str, tuple[int, ServiceModel]]) -> None:
    at = f"services[{i}]"
    if s.role in STORE_ROLES | {Role.EXTERNAL}:
        for key in ("calls", "counters"):
            if getattr(s, key):
                raise _KeyError(f"{at}.{key}", f"a service of role {s.role} has none")
        if any(r.calls for r in s.routes or ()):
            raise _KeyError(f"{at}.routes", f"a service of role {s.role} calls nobody")
    if s.role in STORE_ROLES and s.routes is not None:
        raise _KeyError(f"{at}.routes", f"the routes of role {s.role} are fixed by the role")
    if s.standby is not None:
        if s.role != Role.EXTERNAL:
            raise _KeyError(f"{at}.standby", "only an external service has a standby")
        if s.standby not in by_name or s.standby == s.name:
            raise _KeyError(f"{at}.standby", f"unknown standby service {s.standby!r}")
    refs = [(f"{at}.calls[{c}]", ref) for c, ref in enumerate(s.calls)]
    for r_i, route in enumerate(s.routes or ()):
        refs += [(f"{at}.routes[{r_i}].calls[{c}]", ref) for c, ref in enumerate(route.calls)]
    for key, ref in refs:
        callee, _, route_name = ref.partition(".")
        if callee not in by_name:
            raise _KeyError(key, f"unknown service {callee!r}")
        if callee == s.name:
            raise _KeyError(key, f"{s.name} cannot call itself")
        if route_name and by_name[callee][1].role in STORE_ROLES:
            raise _KeyError(
                key, f"{callee} is a {by_name[callee][1].role}: call it without a route"
            )
    if s.routes is not None:
        names = [r.name for r in s.routes]
        for r_i, name in enumerate(names):
            if name in names[:r_i]:
                raise _KeyError(f"{at}.routes[{r_i}].name", f"duplicate route {name!r}")
        if not s.routes:
            raise _KeyError(f"{at}.routes", "a service needs at least one route")


def _service(i: int, s: ServiceModel) -> ServiceSpec:
    if s.role == Role.CACHE:
        routes = CACHE_ROUTES
    elif s.role == Role.DATABASE:
        routes = DATABASE_ROUTES
    elif s.routes is not None:
        declared = {ref.partition(".")[0] for ref in s.calls}
        routes = tuple(
            RouteSpec(r.name, r.method, r.path, tuple(_call(ref) for ref in r.calls))
            for r in s.routes
        )
        used = {c.service for r in routes for c in r.calls}
        unused = sorted(declared - used)
        if unused:
            raise _KeyError(f"services[{i}].calls", f"no route calls {', '.join(unused)}")
    else:
        default_path = "/requests" if s.role == Role.EXTERNAL else f"/{s.name}"
        routes = (RouteSpec("main", "POST", default_path, tuple(_call(r) for r in s.calls)),)
    return ServiceSpec(
        name=s.name,
        role=s.role,
        replicas=s.replicas,
        routes=routes,
        criticality=s.criticality,
        counters=tuple(c for c in COUNTERS if c in s.counters),
        standby=s.standby,
        config=dict(s.config),
    )


def _call(ref: str) -> CallSpec:
    service, _, route = ref.partition(".")
    return CallSpec(service, route or None)


def _resolve_routes(
    i: int, s: ServiceSpec, by_name: dict[str, ServiceSpec], default_route: bool
) -> ServiceSpec:
    """``s`` with every call to a service with routes naming the route it takes
    (its main route, the first, when the file names none)."""
    routes = []
    for r_i, route in enumerate(s.routes):
        calls = []
        for c_i, call in enumerate(route.calls):
            callee = by_name[call.service]
            if callee.role in STORE_ROLES:
                calls.append(call)
                continue
            try:
                calls.append(CallSpec(call.service, callee.route(call.route).name))
            except KeyError:
                have = ", ".join(r.name for r in callee.routes)
                key = f"calls[{c_i}]" if default_route else f"routes[{r_i}].calls[{c_i}]"
                raise _KeyError(
                    f"services[{i}].{key}",
                    f"{callee.name} has no route {call.route!r}; it has {have}",
                ) from None
        routes.append(dataclasses.replace(route, calls=tuple(calls)))
    return dataclasses.replace(s, routes=tuple(routes))


def _check_standby(i: int, s: ServiceSpec, standby: ServiceSpec) -> None:
    if standby.role != Role.EXTERNAL:
        raise _KeyError(f"services[{i}].standby", f"{standby.name} is not an external service")
    mine = {(r.method, r.path) for r in s.routes}
    theirs = {(r.method, r.path) for r in standby.routes}
    if not mine <= theirs:
        raise _KeyError(
            f"services[{i}].standby", f"{standby.name} does not serve every route of {s.name}"
        )


def _check_acyclic(services: tuple[ServiceSpec, ...]) -> None:
    index = {s.name: i for i, s in enumerate(services)}
    deps = {s.name: s.dependencies for s in services}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in deps[name]:
            if state.get(dep) == 1:
                cycle = " → ".join([*path[path.index(dep) :], dep])
                raise _KeyError(f"services[{index[name]}].calls", f"call cycle {cycle}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for s in services:
        if s.name not in state:
            visit(s.name, [s.name])


def _journeys(model: TopologyModel, entry: ServiceSpec) -> tuple[JourneySpec, ...]:
    routes = {r.name for r in entry.routes}
    if model.journeys is None:
        return tuple(JourneySpec(r.name, 1.0, (r.name,)) for r in entry.routes)
    seen: set[str] = set()
    out = []
    for j_i, j in enumerate(model.journeys):
        if j.name in seen:
            raise _KeyError(f"journeys[{j_i}].name", f"duplicate journey {j.name!r}")
        seen.add(j.name)
        for s_i, step in enumerate(j.steps):
            if step not in routes:
                raise _KeyError(
                    f"journeys[{j_i}].steps[{s_i}]",
                    f"{entry.name} has no route {step!r}; it has {', '.join(sorted(routes))}",
                )
        out.append(JourneySpec(j.name, j.weight, tuple(j.steps)))
    if not out:
        raise _KeyError("journeys", "at least one journey is needed")
    return tuple(out)
