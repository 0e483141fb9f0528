"""The platform: what Kubernetes or a process supervisor would offer for the
shop — start/stop/restart instances, scale, deploy and roll back versions,
read/write/restore config, clear the cache, drain/undrain, fail over a
dependency — each one real (processes start and stop, files change, traffic
moves) and each returning only once its change took effect.

Owned by ``Shop`` and exposed over HTTP by ``control.py`` (the contract in
``docs/local-platform-api.md``). It never restarts a crashed instance on its
own: healing is the product's job.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.balancer import Backend, LoadBalancer
from selfheal.testbed.configstore import ConfigStore
from selfheal.testbed.errors import BadRequest, Conflict, NotFound, TestbedError
from selfheal.testbed.prober import Prober
from selfheal.testbed.process import InstanceProcess, LaunchSpec, Zygote, spawn, wait_ready
from selfheal.testbed.topology import VERSIONS, Role, ServiceSpec, Topology, default_config


@dataclass(slots=True)
class InstanceState:
    id: str
    service: str
    index: int
    log_file: str
    version: str = "v1"
    process: InstanceProcess | None = None
    port: int = 0
    healthy: bool = False
    ready: bool = False
    drained: bool = False
    failures: int = 0
    stopping: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port else ""

    @property
    def pid(self) -> int | None:
        if self.process is not None and self.process.alive():
            return self.process.pid
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "healthy": self.healthy,
            "ready": self.ready,
            "drained": self.drained,
            "pid": self.pid,
            "version": self.version,
        }


@dataclass(slots=True)
class ServiceState:
    spec: ServiceSpec
    lb: LoadBalancer
    config: ConfigStore
    versions: list[str]
    instances: list[InstanceState] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.versions[-1]


class Platform:
    """The shop's processes, load balancers, versions and configs."""

    def __init__(
        self,
        run_dir: str,
        otlp_endpoint: str | None = None,
        replicas: dict[str, int] | None = None,
        topology: Topology | None = None,
    ) -> None:
        if topology is None:
            from selfheal.testbed.topology_file import find_topology

            topology = find_topology()
        self.topology = topology
        self.run_dir = os.path.abspath(run_dir)
        self.otlp_endpoint = otlp_endpoint
        self._replicas = dict(replicas or {})
        unknown = set(self._replicas) - set(topology.names)
        if unknown:
            raise NotFound(f"unknown service(s) in replicas: {', '.join(sorted(unknown))}")
        for name, n in self._replicas.items():
            if n < 0:
                raise BadRequest(f"replicas for {name} must be >= 0, got {n}")
        self.services: dict[str, ServiceState] = {}
        self._zygote: Zygote | None = None
        self._prober = Prober(self._all_instances)
        self.on_instance_started: list[Callable[[InstanceState], None]] = []
        self.on_cache_cleared: list[Callable[[str], None]] = []

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        # A new shop starts fresh: an old run's cache snapshot, config history or log lines
        # in the same run dir would leak into this one (only our own sub-folders go).
        for sub in ("logs", "config", "data", "ready"):
            shutil.rmtree(os.path.join(self.run_dir, sub), ignore_errors=True)
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        with open(self.topology_path, "w", encoding="utf-8") as f:
            f.write(self.topology.dumps())
        self._zygote = Zygote(
            os.path.join(self.run_dir, "logs", "launcher.stderr"), otlp=bool(self.otlp_endpoint)
        )
        lbs: dict[str, LoadBalancer] = {}
        for s in self.topology:
            lbs[s.name] = LoadBalancer(s.name, self._backends_of(s.name), self._refused_of(s.name))
            lbs[s.name].start()
        lb_urls = {name: lb.url for name, lb in lbs.items()}
        for s in self.topology:
            store = ConfigStore(
                os.path.join(self.run_dir, "config", s.name), default_config(s, lb_urls)
            )
            state = ServiceState(s, lbs[s.name], store, ["v1"])
            for i in range(self._replicas.get(s.name, s.replicas)):
                state.instances.append(self._new_instance(s.name, i))
            self.services[s.name] = state
        everything = [(st, inst) for st in self.services.values() for inst in st.instances]
        self._launch_many(everything)
        self._prober.start()

    @property
    def topology_path(self) -> str:
        """The topology as the instance processes read it (JSON in the run dir)."""
        return os.path.join(self.run_dir, "topology.json")

    def shutdown(self) -> None:
        self._prober.stop()
        procs = [
            inst.process
            for st in self.services.values()
            for inst in st.instances
            if inst.process is not None
        ]
        for proc in procs:
            proc.signal(18)  # SIGCONT: let hung instances receive the TERM
            proc.signal(15)
        for proc in procs:
            proc.stop(grace_seconds=3.0)
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        stoppers = [threading.Thread(target=st.lb.stop) for st in self.services.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for st in self.services.values():
            for inst in st.instances:
                inst.process = None
                inst.healthy = inst.ready = False

    def pids(self) -> list[int]:
        """Every process of the shop: the instances and their launcher."""
        launcher = [self._zygote.pid] if self._zygote is not None else []
        return launcher + [
            inst.process.pid
            for st in self.services.values()
            for inst in st.instances
            if inst.process is not None and inst.process.alive()
        ]

    # -- lookups -----------------------------------------------------------------
    def service(self, name: str) -> ServiceState:
        try:
            return self.services[name]
        except KeyError:
            raise NotFound(f"unknown service {name!r}; known: {', '.join(self.services)}") from None

    def instance(self, service: str, instance_id: str) -> InstanceState:
        st = self.service(service)
        for inst in st.instances:
            if inst.id == instance_id:
                return inst
        raise NotFound(
            f"unknown instance {instance_id!r} of {service}; "
            f"known: {', '.join(i.id for i in st.instances) or 'none'}"
        )

    # -- discovery ---------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        out = []
        url_to_service = {st.lb.url: st.name for st in self.services.values()}
        for st in self.services.values():
            config = st.config.current()
            deps = {
                dep: url_to_service.get(url, url)
                for dep, url in config.config.get("dependencies", {}).items()
            }
            entry: dict[str, Any] = {
                "name": st.name,
                "version": st.version,
                "replicas": len(st.instances),
                "config_revision": config.revision,
                "lb_url": st.lb.url,
                "dependencies": deps,
                "external": st.spec.external,
                "role": st.spec.role.value,
                "instances": [inst.to_json() for inst in list(st.instances)],
            }
            if st.spec.criticality is not None:
                entry["criticality"] = st.spec.criticality
            out.append(entry)
        return {"services": out}

    def targets(self) -> list[dict[str, Any]]:
        return [
            {
                "targets": [f"127.0.0.1:{inst.port}"],
                "labels": {"service": st.name, "instance_id": inst.id, "version": inst.version},
            }
            for st in self.services.values()
            for inst in list(st.instances)
            if inst.port
        ]

    def logs(self) -> dict[str, Any]:
        return {
            "files": [
                {"service": st.name, "instance_id": inst.id, "path": inst.log_file}
                for st in self.services.values()
                for inst in list(st.instances)
            ]
        }

    # -- instance operations -----------------------------------------------------
    def start_instance(self, service: str, instance_id: str) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            inst = self.instance(service, instance_id)
            if inst.pid is not None:
                raise Conflict(f"instance {instance_id} is already running")
            self._launch(st, inst)
            return inst.to_json()

    def stop_instance(self, service: str, instance_id: str) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            inst = self.instance(service, instance_id)
            if inst.pid is None:
                raise Conflict(f"instance {instance_id} is not running")
            self._halt(inst)
            return inst.to_json()

    def restart_instance(self, service: str, instance_id: str) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            inst = self.instance(service, instance_id)
            self._halt(inst)
            self._launch(st, inst)
            return inst.to_json()

    def restart_service(self, service: str) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            self._rolling(st, st.version)
            return {"service": service, "instances": [i.to_json() for i in st.instances]}

    def drain(self, service: str, instance_id: str, drained: bool = True) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            inst = self.instance(service, instance_id)
            inst.drained = drained
            return inst.to_json()

    def scale(self, service: str, replicas: Any) -> dict[str, Any]:
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise BadRequest("replicas must be an integer")
        if replicas < 0:
            raise Conflict(f"cannot scale {service} below 0 (asked {replicas})")
        st = self.service(service)
        with st.lock:
            while len(st.instances) > replicas:
                victim = max(st.instances, key=lambda i: i.index)
                victim.drained = True  # stop sending it traffic before it goes
                self._halt(victim)
                st.instances.remove(victim)
            added: list[InstanceState] = []
            used = {i.index for i in st.instances}
            index = 0
            while len(st.instances) + len(added) < replicas:
                if index not in used:
                    added.append(self._new_instance(service, index))
                index += 1
            if added:
                for inst in added:
                    inst.version = st.version
                self._launch_many([(st, inst) for inst in added])
                st.instances.extend(added)
                st.instances.sort(key=lambda i: i.index)
            return {"service": service, "replicas": len(st.instances)}

    # -- versions ----------------------------------------------------------------
    def deploy(self, service: str, version: Any) -> dict[str, Any]:
        if version not in VERSIONS:
            raise BadRequest(f"unknown version {version!r}; known: {', '.join(VERSIONS)}")
        st = self.service(service)
        with st.lock:
            st.versions.append(str(version))
            self._rolling(st, str(version))
            return {"service": service, "version": st.version}

    def rollback(self, service: str, version: Any = None) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            if version is None:
                if len(st.versions) < 2:
                    raise Conflict(f"{service} has no previous version to roll back to")
                target = st.versions[-2]
            elif version not in st.versions:
                raise NotFound(f"version {version!r} is not in the history of {service}")
            else:
                target = str(version)
            st.versions.append(target)
            self._rolling(st, target)
            return {"service": service, "version": st.version}

    def versions(self, service: str) -> dict[str, Any]:
        st = self.service(service)
        return {"current": st.version, "history": list(st.versions)}

    # -- config ------------------------------------------------------------------
    def get_config(self, service: str) -> dict[str, Any]:
        rev = self.service(service).config.current()
        return {"revision": rev.revision, "config": copy.deepcopy(rev.config)}

    def put_config(self, service: str, config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise BadRequest("config must be a JSON object")
        st = self.service(service)
        with st.lock:
            rev = st.config.write(config)
            self._reload(st)
            return {"revision": rev.revision}

    def config_history(self, service: str) -> dict[str, Any]:
        return {"revisions": [r.to_json() for r in self.service(service).config.history()]}

    def restore_config(self, service: str, revision: Any = None) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            current = st.config.current().revision
            wanted = current - 1 if revision is None else revision
            if not isinstance(wanted, int) or isinstance(wanted, bool):
                raise BadRequest("revision must be an integer")
            if revision is None and wanted < 1:
                raise Conflict(f"{service} has no config revision before {current}")
            old = st.config.get(wanted)
            if old is None:
                raise NotFound(f"{service} has no config revision {wanted}")
            return self.put_config(service, old.config)

    def failover(self, service: str, dependency: Any, to: Any = None) -> dict[str, Any]:
        st = self.service(service)
        with st.lock:
            config = copy.deepcopy(st.config.current().config)
            deps = config.get("dependencies", {})
            if dependency not in deps:
                raise BadRequest(
                    f"{service} has no dependency {dependency!r}; it has: "
                    f"{', '.join(deps) or 'none'}"
                )
            urls = {s.lb.url: s.name for s in self.services.values()}
            using = urls.get(deps[dependency], dependency)
            if to is None:
                standby = self.service(using).spec.standby
                if standby is None:
                    raise Conflict(f"{using} has no standby to fail over to")
                to = standby
            candidates = {dependency, self.service(dependency).spec.standby}
            if to not in candidates:
                raise BadRequest(
                    f"{to!r} cannot stand in for {dependency}; choose from "
                    f"{', '.join(sorted(c for c in candidates if c))}"
                )
            deps[dependency] = self.service(str(to)).lb.url
            result = self.put_config(service, config)
            return {**result, "dependency": dependency, "to": to}

    # -- cache ---------------------------------------------------------------------
    def clear_cache(self, service: str) -> dict[str, Any]:
        st = self.service(service)
        if st.spec.role != Role.CACHE:
            raise BadRequest(f"{service} holds no cache; clear applies to a service of role cache")
        with st.lock:
            cleared = 0
            running = [i for i in st.instances if i.pid is not None]
            for inst in running:
                status, body = self.call_instance(inst, "POST", "/-/clear")
                if status != 200:
                    raise TestbedError(f"clearing {inst.id} failed: HTTP {status} {body}")
                cleared += int(body.get("cleared", 0))
            if not running:
                snapshot = os.path.join(self.run_dir, "data", f"{st.name}-snapshot.json")
                if os.path.exists(snapshot):
                    os.unlink(snapshot)
            for callback in self.on_cache_cleared:
                callback(service)
            return {"service": service, "cleared": cleared}

    # -- talking to instances --------------------------------------------------------
    def call_instance(
        self,
        inst: InstanceState,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 3.0,
    ) -> tuple[int, dict[str, Any]]:
        if not inst.port:
            raise TestbedError(f"instance {inst.id} has no port")
        conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise TestbedError(f"instance {inst.id} did not answer {method} {path}: {exc}") from exc
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {}
        return response.status, parsed if isinstance(parsed, dict) else {}

    # -- internals -----------------------------------------------------------------
    def _new_instance(self, service: str, index: int) -> InstanceState:
        instance_id = f"{service}-{index}"
        return InstanceState(
            id=instance_id,
            service=service,
            index=index,
            log_file=os.path.join(self.run_dir, "logs", f"{instance_id}.log"),
        )

    def _spec(self, st: ServiceState, inst: InstanceState) -> LaunchSpec:
        return LaunchSpec(
            service=st.name,
            instance_id=inst.id,
            version=inst.version,
            config_path=st.config.path,
            log_file=inst.log_file,
            data_dir=os.path.join(self.run_dir, "data"),
            run_dir=self.run_dir,
            otlp_endpoint=self.otlp_endpoint,
            topology_path=self.topology_path,
            port=inst.port,
        )

    def _launch_many(self, pairs: list[tuple[ServiceState, InstanceState]]) -> None:
        """Start instances in parallel; all ready or an error (and none left)."""
        spawned = [(st, inst, self._spec(st, inst)) for st, inst in pairs]
        popens = [(st, inst, spec, spawn(self._launcher(), spec)) for st, inst, spec in spawned]
        errors = []
        for _st, inst, spec, popen in popens:
            try:
                self._adopt(inst, wait_ready(spec, popen))
            except TestbedError as exc:
                errors.append(str(exc))
        if errors:
            for _, inst, _, _ in popens:
                self._halt(inst)
            raise TestbedError("; ".join(errors))
        for _, inst, _, _ in popens:
            for callback in self.on_instance_started:
                callback(inst)

    def _launch(self, st: ServiceState, inst: InstanceState) -> None:
        spec = self._spec(st, inst)
        self._adopt(inst, wait_ready(spec, spawn(self._launcher(), spec)))
        for callback in self.on_instance_started:
            callback(inst)

    def _launcher(self) -> Zygote:
        if self._zygote is None:
            raise TestbedError("the platform is not started")
        return self._zygote

    @staticmethod
    def _adopt(inst: InstanceState, proc: InstanceProcess) -> None:
        inst.process = proc
        inst.port = proc.port
        inst.healthy = inst.ready = True
        inst.failures = 0
        inst.stopping = False

    @staticmethod
    def _halt(inst: InstanceState) -> None:
        inst.stopping = True  # probes must not mark it ready again while it stops
        inst.ready = False  # the load balancer stops sending it new requests first
        if inst.process is not None:
            inst.process.stop()
        inst.process = None
        inst.healthy = inst.ready = False

    def _rolling(self, st: ServiceState, version: str) -> None:
        # Instances out of service first (as a ReplicaSet scales down unready pods first):
        # the rollout never takes down a serving instance while another is out.
        for inst in sorted(st.instances, key=lambda i: i.ready and i.process is not None):
            self._halt(inst)
            inst.version = version
            self._launch(st, inst)

    def _reload(self, st: ServiceState) -> None:
        for inst in st.instances:
            if inst.pid is None:
                continue
            # A hung instance reads the config when it is restarted.
            with contextlib.suppress(TestbedError):
                self.call_instance(inst, "POST", "/-/reload", timeout=2.0)

    def _backends_of(self, service: str) -> Callable[[], list[Backend]]:
        def backends() -> list[Backend]:
            st = self.services.get(service)
            if st is None:
                return []
            return [
                (i.id, i.port)
                for i in list(st.instances)
                if i.ready and not i.drained and i.process is not None
            ]

        return backends

    def _refused_of(self, service: str) -> Callable[[str], None]:
        def refused(instance_id: str) -> None:
            st = self.services.get(service)
            for inst in list(st.instances) if st else []:
                if inst.id == instance_id and (inst.process is None or not inst.process.alive()):
                    inst.healthy = inst.ready = False

        return refused

    def _all_instances(self) -> list[InstanceState]:
        return [i for st in list(self.services.values()) for i in list(st.instances)]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
