"""The fault vocabulary and the manager that injects, tracks and stops faults.

Each fault has a symptom one can see from outside and a platform operation that
truly fixes it *while the fault is still active* (see ``CATALOGUE`` and the
table in the package docstring). Process-level faults live in the instance's
memory, so a restart ends them; config faults are undone by a config restore,
a bad release by a rollback, an outage by a failover, corruption by a clear.

Driven by the control API (``POST /faults``); the product never calls it.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.errors import BadRequest, Conflict, NotFound, TestbedError
from selfheal.testbed.platform import InstanceState, Platform
from selfheal.testbed.topology import Role, ServiceSpec

BROKEN_URL = "http://127.0.0.1:1"
"""Port 1 needs root to bind, so nothing answers there: a dependency URL typo."""


OURS = (Role.ENTRY, Role.SERVICE, Role.CACHE, Role.DATABASE)
"""Roles whose processes and releases are the shop's own (an external provider's are not)."""
CALLERS = (Role.ENTRY, Role.SERVICE)


@dataclass(frozen=True, slots=True)
class FaultInfo:
    name: str
    symptom: str
    remediation: str
    params: str
    scope: str  # "instance" (or whole service), "service", "external", "cache"
    roles: tuple[Role, ...] = OURS
    """The roles of the services the fault may target."""
    needs: str = ""
    """What the target must also have: "dependencies" (it calls others) or "pool"."""

    def allows(self, spec: ServiceSpec) -> bool:
        """Whether the fault can act on service ``spec``."""
        if spec.role not in self.roles:
            return False
        if self.needs == "dependencies":
            return bool(spec.dependencies)
        if self.needs == "pool":
            return spec.has_pool
        return True

    def targets(self) -> str:
        """The allowed targets, in words."""
        roles = " or ".join(r.value for r in self.roles)
        extra = {"dependencies": " that calls others", "pool": " with a connection pool"}
        return f"a service of role {roles}{extra.get(self.needs, '')}"


CATALOGUE: dict[str, FaultInfo] = {
    f.name: f
    for f in (
        FaultInfo(
            "crash",
            "instance exits (ERROR log 'fatal'); health fails, pid gone; "
            "a single-replica service answers 503",
            "restart (or start) the instance",
            "-",
            "instance",
        ),
        FaultInfo(
            "hang",
            "process alive but answers nothing (SIGSTOP): probes time out, callers time out",
            "restart the instance",
            "-",
            "instance",
        ),
        FaultInfo(
            "latency",
            "every business request of the target is delayed",
            "restart the instance (drain it if other replicas are healthy)",
            "delay_ms=500",
            "instance",
        ),
        FaultInfo(
            "errors",
            "a fraction of business requests answer 500",
            "restart the instance",
            "rate=0.5",
            "instance",
        ),
        FaultInfo(
            "memory_leak",
            "process_resident_memory_bytes keeps growing",
            "restart the instance",
            "rate_mb=20 max_mb=300",
            "instance",
        ),
        FaultInfo(
            "cpu_hog",
            "process_cpu_seconds_total grows ~1 s/s per thread; latency up",
            "restart the instance",
            "threads=1",
            "instance",
        ),
        FaultInfo(
            "network_delay",
            "calls from the target to dependency `to` are slow "
            "(upstream_request_duration_seconds{target=to})",
            "restart the calling instance (a fresh network path)",
            "to=<dependency> (required) delay_ms=300",
            "instance",
            CALLERS,
            "dependencies",
        ),
        FaultInfo(
            "bad_config",
            "a config push breaks the service's calls to its dependencies "
            "(unreachable URL, or a 1 ms timeout): upstream errors, 502s",
            "restore the previous config revision",
            "mode=dependency_url|timeout dependency=<name>",
            "service",
            CALLERS,
            "dependencies",
        ),
        FaultInfo(
            "bad_release",
            "v2 is deployed; its code has a real bug: 5xx on its main route",
            "roll back to the previous version",
            "-",
            "service",
        ),
        FaultInfo(
            "dependency_outage",
            "the external provider is down (its /ready and every "
            "call answer 503, also after a restart): its callers fail",
            "fail over its caller to the provider's standby",
            "-",
            "external",
            (Role.EXTERNAL,),
        ),
        FaultInfo(
            "cache_corruption",
            "every cache entry is overwritten with garbage that "
            "survives a restart (snapshot): the cache's callers answer 500",
            "clear the cache",
            "-",
            "cache",
            (Role.CACHE,),
        ),
        FaultInfo(
            "pool_exhaustion",
            "a config push shrinks the connection pool below the load (default: no "
            "connection at all): pool_connections_max drops, pool_wait_timeouts_total rises, "
            "requests that need a dependency answer 503",
            "restore the previous config revision (scaling out does not add connections)",
            "size=0 timeout_ms=5",
            "service",
            (Role.ENTRY, Role.SERVICE, Role.DATABASE),
            "pool",
        ),
    )
}

FAULTS: tuple[str, ...] = tuple(CATALOGUE)

_PROCESS = {"crash", "latency", "errors", "memory_leak", "cpu_hog", "network_delay"}
_CONFIG = {"bad_config", "pool_exhaustion"}


@dataclass(slots=True)
class FaultRecord:
    id: str
    fault: str
    service: str
    instance: str | None
    params: dict[str, Any]
    started_at: float
    expires_at: float | None
    bound: list[tuple[str, int]] = field(default_factory=list)
    """(instance id, pid) of the processes a process-level fault lives in."""
    revision: int = 0
    """For config faults: the config revision the fault pushed."""
    marker: int = 0
    """For bad_release: length of the version history right after the deploy."""
    cleared: bool = False
    stopped: bool = False


class FaultManager:
    """Injects faults into the platform's shop and reports which are active."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.RLock()
        self._records: dict[str, FaultRecord] = {}
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        platform.on_instance_started.append(self._instance_started)
        platform.on_cache_cleared.append(self._cache_cleared)
        self._reaper = threading.Thread(target=self._reap_loop, name="fault-reaper", daemon=True)
        self._reaper.start()

    def close(self) -> None:
        self._stop.set()

    # -- API -----------------------------------------------------------------------
    def inject(
        self,
        fault: Any,
        service: Any,
        instance: Any = None,
        params: Any = None,
        duration: Any = None,
    ) -> dict[str, Any]:
        if fault not in CATALOGUE:
            raise NotFound(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if not isinstance(service, str):
            raise BadRequest("service is required")
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise BadRequest("params must be an object")
        if duration is not None and (
            not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0
        ):
            raise BadRequest("duration must be a positive number of seconds or null")
        st = self.platform.service(service)
        if instance is not None:
            self.platform.instance(service, str(instance))
        info = CATALOGUE[fault]
        if not info.allows(st.spec):
            raise BadRequest(
                f"{fault} cannot act on {service} (role {st.spec.role.value}): "
                f"it targets {info.targets()}"
            )
        if info.scope in ("service",) and instance is not None:
            raise BadRequest(f"{fault} acts on a whole service; omit the instance")
        now = time.time()
        with self._lock:
            rec = FaultRecord(
                id=f"f-{next(self._ids)}",
                fault=fault,
                service=service,
                instance=None if instance is None else str(instance),
                params=dict(params),
                started_at=now,
                expires_at=None if duration is None else now + float(duration),
            )
            with st.lock:
                self._apply(rec)
            self._records[rec.id] = rec
        return self._to_json(rec)

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": [self._to_json(r) for r in self._records.values()]}

    def get(self, fault_id: str) -> dict[str, Any]:
        with self._lock:
            return self._to_json(self._record(fault_id))

    def stop(self, fault_id: str) -> dict[str, Any]:
        with self._lock:
            rec = self._record(fault_id)
            if not rec.stopped:
                st = self.platform.service(rec.service)
                with st.lock:
                    self._undo(rec)
                rec.stopped = True
            return self._to_json(rec)

    def stop_all(self) -> dict[str, Any]:
        with self._lock:
            ids = [r.id for r in self._records.values() if not r.stopped]
            for fault_id in ids:
                self.stop(fault_id)
            return {"stopped": ids}

    def is_active(self, rec: FaultRecord) -> bool:
        if rec.stopped:
            return False
        try:
            st = self.platform.service(rec.service)
        except NotFound:
            return False
        if rec.fault in _PROCESS and rec.fault != "crash" or rec.fault == "hang":
            pids = {i.id: i.pid for i in st.instances}
            return any(pids.get(iid) == pid for iid, pid in rec.bound)
        if rec.fault == "crash":
            pids = {i.id: i.pid for i in st.instances}
            return any(iid in pids and pids[iid] is None for iid, _ in rec.bound)
        if rec.fault in _CONFIG:
            return st.config.current().revision == rec.revision
        if rec.fault == "bad_release":
            return len(st.versions) == rec.marker
        if rec.fault == "cache_corruption":
            return not rec.cleared
        return True  # dependency_outage lasts until stopped or expired

    # -- applying --------------------------------------------------------------------
    def _record(self, fault_id: str) -> FaultRecord:
        try:
            return self._records[fault_id]
        except KeyError:
            raise NotFound(f"unknown fault id {fault_id!r}") from None

    def _targets(self, rec: FaultRecord) -> list[InstanceState]:
        st = self.platform.service(rec.service)
        chosen = [i for i in st.instances if rec.instance in (None, i.id)]
        running = [i for i in chosen if i.pid is not None]
        if not running:
            raise Conflict(f"no running instance of {rec.service} to inject {rec.fault} into")
        return running

    def _apply(self, rec: FaultRecord) -> None:
        fault, p = rec.fault, rec.params
        st = self.platform.service(rec.service)
        if fault == "network_delay":
            deps = st.config.current().config.get("dependencies", {})
            if p.get("to") not in deps:
                raise BadRequest(
                    f"network_delay needs param to=<dependency of {rec.service}>: "
                    f"one of {', '.join(deps) or 'none (it calls nobody)'}"
                )
        if fault == "hang":
            for inst in self._targets(rec):
                assert inst.process is not None
                inst.process.signal(signal.SIGSTOP)
                rec.bound.append((inst.id, inst.process.pid))
        elif fault == "crash":
            targets = self._targets(rec)
            for inst in targets:
                self._send(inst, rec)
                rec.bound.append((inst.id, inst.process.pid if inst.process else 0))
            for inst in targets:
                if inst.process is not None:
                    try:
                        inst.process.popen.wait(5.0)  # returns once the process is gone
                    except subprocess.TimeoutExpired as exc:
                        raise TestbedError(f"{inst.id} did not exit on crash") from exc
                    inst.healthy = inst.ready = False
        elif fault in _PROCESS:
            for inst in self._targets(rec):
                self._send(inst, rec)
                assert inst.process is not None
                rec.bound.append((inst.id, inst.process.pid))
        elif fault in _CONFIG:
            rec.revision = self._push_config(rec)
        elif fault == "bad_release":
            if st.version == "v2":
                raise Conflict(f"{rec.service} already runs v2")
            self.platform.deploy(rec.service, "v2")
            rec.marker = len(st.versions)
        elif fault in ("dependency_outage", "cache_corruption"):
            for inst in self._targets(rec):
                self._send(inst, rec)
            rec.cleared = False

    def _push_config(self, rec: FaultRecord) -> int:
        st = self.platform.service(rec.service)
        config = dict(st.config.current().config)
        deps = dict(config.get("dependencies", {}))
        if rec.fault == "bad_config":
            mode = rec.params.get("mode", "dependency_url")
            if mode == "dependency_url":
                names = [rec.params["dependency"]] if "dependency" in rec.params else list(deps)
                for name in names:
                    if name not in deps:
                        raise BadRequest(f"{rec.service} has no dependency {name!r}")
                    deps[name] = BROKEN_URL
                config["dependencies"] = deps
            elif mode == "timeout":
                config["upstream_timeout_seconds"] = 0.001
            else:
                raise BadRequest("bad_config mode must be dependency_url or timeout")
        else:
            try:
                size = int(rec.params.get("size", 0))
                timeout_ms = float(rec.params.get("timeout_ms", 5))
            except (TypeError, ValueError) as exc:
                raise BadRequest("pool_exhaustion params size and timeout_ms are numbers") from exc
            config["pool_size"] = size
            config["pool_timeout_seconds"] = timeout_ms / 1000.0
        return int(self.platform.put_config(rec.service, config)["revision"])

    def _send(self, inst: InstanceState, rec: FaultRecord) -> None:
        status, body = self.platform.call_instance(
            inst, "POST", "/-/faults", {"id": rec.id, "fault": rec.fault, "params": rec.params}
        )
        if status != 200:
            raise BadRequest(f"{inst.id} refused {rec.fault}: {body.get('error', status)}")

    # -- undoing -----------------------------------------------------------------------
    def _undo(self, rec: FaultRecord) -> None:
        st = self.platform.service(rec.service)
        current = {i.id: i for i in st.instances}
        if rec.fault == "hang":
            for iid, pid in rec.bound:
                inst = current.get(iid)
                if inst is not None and inst.pid == pid and inst.process is not None:
                    inst.process.signal(signal.SIGCONT)
        elif rec.fault == "crash":
            for iid, _ in rec.bound:
                inst = current.get(iid)
                if inst is not None and inst.pid is None:
                    self.platform.start_instance(rec.service, iid)
        elif rec.fault in _PROCESS:
            for iid, pid in rec.bound:
                inst = current.get(iid)
                if inst is not None and inst.pid == pid:
                    self._remove(inst, rec.id)
        elif rec.fault in _CONFIG:
            if st.config.current().revision == rec.revision:
                self.platform.restore_config(rec.service, rec.revision - 1)
        elif rec.fault == "bad_release":
            if len(st.versions) == rec.marker:
                self.platform.rollback(rec.service)
        elif rec.fault == "dependency_outage":
            rec.stopped = True  # before removing, so restarts stop re-applying it
            for inst in st.instances:
                if inst.pid is not None:
                    self._remove(inst, rec.id)
        elif rec.fault == "cache_corruption" and not rec.cleared:
            for inst in st.instances:
                if inst.pid is not None:
                    self.platform.call_instance(inst, "POST", "/-/uncorrupt")

    def _remove(self, inst: InstanceState, fault_id: str) -> None:
        # If it hung meanwhile, the fault dies with the process on its restart.
        with contextlib.suppress(TestbedError):
            self.platform.call_instance(inst, "DELETE", f"/-/faults/{fault_id}")

    # -- platform callbacks --------------------------------------------------------------
    def _instance_started(self, inst: InstanceState) -> None:
        """An outage of an external provider outlives a restart of its instances."""
        # Called under the service's lock: taking self._lock here would invert the lock
        # order of inject/stop (ours, then the service's). A copy of the values is enough.
        sticky = [
            r
            for r in list(self._records.values())
            if r.fault == "dependency_outage" and r.service == inst.service and not r.stopped
        ]
        for rec in sticky:
            with contextlib.suppress(TestbedError):
                self._send(inst, rec)

    def _cache_cleared(self, service: str) -> None:
        for rec in list(self._records.values()):  # under the service's lock; see above
            if rec.fault == "cache_corruption" and rec.service == service:
                rec.cleared = True

    def _reap_loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.time()
            with self._lock:
                due = [
                    r.id
                    for r in self._records.values()
                    if not r.stopped and r.expires_at is not None and r.expires_at <= now
                ]
            for fault_id in due:
                with contextlib.suppress(TestbedError):
                    self.stop(fault_id)

    def _to_json(self, rec: FaultRecord) -> dict[str, Any]:
        return {
            "id": rec.id,
            "fault": rec.fault,
            "service": rec.service,
            "instance": rec.instance,
            "params": dict(rec.params),
            "started_at": rec.started_at,
            "expires_at": rec.expires_at,
            "active": self.is_active(rec),
            "symptom": CATALOGUE[rec.fault].symptom,
            "remediation": CATALOGUE[rec.fault].remediation,
        }


def allowed_targets(fault: str, services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """The services (of a topology) that ``fault`` may target, in their order."""
    info = CATALOGUE[fault]
    return tuple(s.name for s in services if info.allows(s))
