"""A Kubernetes Lease as the high-availability lock (``ha.lock: kubernetes``).

No cluster is available here, so ``LeaseApiServer`` below is a minimal stand-in for the
Kubernetes API server: an in-process HTTP server implementing only the Lease endpoints
the lock uses (GET, POST and PUT on ``/apis/coordination.k8s.io/v1/namespaces/{ns}/leases``
and ``.../leases/{name}``) with Kubernetes JSON: ``metadata.resourceVersion`` grows on
every write, a PUT at a stale ``resourceVersion`` is 409 Conflict with a ``Status`` body,
a missing Lease is 404, and times must be ``MicroTime`` (six fractional digits) as the
real server parses them. The code under test is the real one: the official ``kubernetes``
client's ``CoordinationV1Api`` over real HTTP to that server, and a real SQLite store
holding the fence. Time is a ``FakeClock`` (the Lease's times are the replicas' clocks).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from selfheal.core.clock import FakeClock
from selfheal.loop.leadership_kubernetes import KubernetesLeaseLeadership
from selfheal.store import Store, open_store
from selfheal.store.leases import Lease, LeaseLost

NS = "apps"
LEASE = "selfheal"
TTL = 2.5  # leaseDurationSeconds 3: whole seconds, rounded up
DURATION = 3
LEASES = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([a-z0-9-]+)/leases(?:/([^/]+))?$")
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


class LeaseApiServer:
    """The Lease endpoints of the Kubernetes API server, in memory (see the docstring)."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.requests: list[tuple[str, int]] = []  # (method, status)
        self.read_barrier: threading.Barrier | None = None  # hold GETs until all arrived
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.handle(self, "GET")

            def do_POST(self) -> None:
                api.handle(self, "POST")

            def do_PUT(self) -> None:
                api.handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def lease(self, name: str = LEASE) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.leases[(NS, name)]))

    # -- the API -----------------------------------------------------------------------

    def handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        match = LEASES.match(http.path.split("?")[0])
        if match is None:
            return self.reply(http, method, 404, status(404, "NotFound", "the server could not find the requested resource"))  # fmt: skip
        namespace, name = match.groups()
        if method == "GET" and name is not None:
            barrier = self.read_barrier
            if barrier is not None:
                barrier.wait(timeout=10)
        body = None
        if method in ("POST", "PUT"):
            body = json.loads(http.rfile.read(int(http.headers["Content-Length"])))
            problem = invalid(body)
            if problem:
                return self.reply(http, method, 400, status(400, "BadRequest", problem))
        with self.lock:
            code, answer = self.serve(method, namespace, name, body)
        self.reply(http, method, code, answer)

    def serve(
        self, method: str, namespace: str, name: str | None, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        if method == "GET" and name is not None:
            found = self.leases.get((namespace, name))
            return (200, found) if found else (404, not_found(name))
        if method == "POST" and name is None and body is not None:
            name = body["metadata"]["name"]
            if (namespace, name) in self.leases:
                return 409, status(409, "AlreadyExists", f'leases.coordination.k8s.io "{name}" already exists', name)  # fmt: skip
            self.version += 1
            body["metadata"] = {
                "name": name, "namespace": namespace, "uid": f"uid-{name}",
                "resourceVersion": str(self.version), "creationTimestamp": "2023-11-14T22:13:20Z",
            }  # fmt: skip
            self.leases[(namespace, name)] = body
            return 201, body
        if method == "PUT" and name is not None and body is not None:
            found = self.leases.get((namespace, name))
            if found is None:
                return 404, not_found(name)
            if body["metadata"].get("resourceVersion") != found["metadata"]["resourceVersion"]:
                return 409, status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": the '
                    "object has been modified; please apply your changes to the latest version "
                    "and try again",
                    name,
                )
            self.version += 1
            body["metadata"] = {**found["metadata"], "resourceVersion": str(self.version)}
            self.leases[(namespace, name)] = body
            return 200, body
        return 405, status(405, "MethodNotAllowed", "the server does not allow this method")

    def reply(
        self, http: BaseHTTPRequestHandler, method: str, code: int, body: dict[str, Any]
    ) -> None:
        self.requests.append((method, code))
        data = json.dumps(body).encode()
        http.send_response(code)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)


def status(code: int, reason: str, message: str, name: str | None = None) -> dict[str, Any]:
    details = {"name": name, "group": "coordination.k8s.io", "kind": "leases"} if name else {}
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    }  # fmt: skip


def not_found(name: str) -> dict[str, Any]:
    return status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found', name)


def invalid(body: dict[str, Any]) -> str | None:
    """What the API server would refuse in a Lease body (its types and time format)."""
    if body.get("kind") not in (None, "Lease") or not body.get("metadata", {}).get("name"):
        return "not a Lease"
    spec = body.get("spec") or {}
    for key in ("acquireTime", "renewTime"):
        if key in spec and not MICRO_TIME.match(str(spec[key])):
            return f'v1.LeaseSpec.{key}: parsing time "{spec[key]}" as RFC3339Micro'
    for key in ("leaseDurationSeconds", "leaseTransitions"):
        if key in spec and (type(spec[key]) is not int or spec[key] < 0):
            return f"v1.LeaseSpec.{key}: must be an integer, got {spec[key]!r}"
    if "holderIdentity" in spec and not isinstance(spec["holderIdentity"], str):
        return "v1.LeaseSpec.holderIdentity: must be a string"
    return None


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LeaseApiServer]:
    api = LeaseApiServer()
    yield api
    api.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stores(tmp_path: Path, clock: FakeClock) -> Iterator[list[Store]]:
    """One store per replica, all on one shared database."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    opened = [open_store(url, clock) for _ in range(3)]
    yield opened
    for s in opened:
        s.close()


def at(stamp: str) -> float:
    """A Lease's time as written, in seconds since the epoch."""
    return datetime.fromisoformat(stamp).timestamp()


def coordination_api(url: str) -> Any:
    """The official client's ``CoordinationV1Api``, pointed at ``url``."""
    return client.CoordinationV1Api(client.ApiClient(client.Configuration(host=url)))


def replica(name: str, url: str, store: Store) -> KubernetesLeaseLeadership:
    return KubernetesLeaseLeadership(
        coordination_api(url), store.leases, NS, LEASE, name, TTL, timeout_seconds=2.0
    )


# -- the lock ------------------------------------------------------------------------------


def test_the_first_replica_creates_the_lease_and_leads(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a = replica("a", server.url, stores[0])
    now = clock.now()
    assert a.lead(now)
    lease = server.lease()
    assert lease["apiVersion"] == "coordination.k8s.io/v1" and lease["kind"] == "Lease"
    spec = lease["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == DURATION  # ceil(2.5)
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] == spec["acquireTime"]
    assert at(spec["renewTime"]) == pytest.approx(now, abs=2e-6)
    # FakeClock's time is a whole second: still six fractional digits, as MicroTime needs
    assert MICRO_TIME.match(spec["renewTime"])
    assert ("POST", 201) in server.requests
    # the store's lease row is the fence: same holder, the Lease's epoch and expiry
    assert a.fence() == Lease(LEASE, "a", 0, now + DURATION)
    assert stores[0].leases.current(LEASE) == a.fence()
    assert a.wake_at() is None


def test_a_second_replica_stands_by_until_the_holders_expiry(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a, b = replica("a", server.url, stores[0]), replica("b", server.url, stores[1])
    renewed = clock.now()
    assert a.lead(renewed)
    clock.advance(1.0)
    assert not b.lead(clock.now())
    assert b.fence() is None
    assert b.wake_at() == pytest.approx(renewed + DURATION)  # renewTime + leaseDurationSeconds
    assert server.lease()["spec"]["holderIdentity"] == "a"
    assert [m for m, _ in server.requests].count("PUT") == 0  # a standby writes nothing


def test_the_leader_renews_its_lease(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a = replica("a", server.url, stores[0])
    first = clock.now()
    assert a.lead(first)
    version = server.lease()["metadata"]["resourceVersion"]
    clock.advance(1.0)
    assert a.lead(clock.now())
    lease = server.lease()
    assert at(lease["spec"]["renewTime"]) == pytest.approx(clock.now(), abs=2e-6)  # moved
    assert at(lease["spec"]["acquireTime"]) == pytest.approx(first, abs=2e-6)  # kept
    assert lease["spec"]["leaseTransitions"] == 0  # unchanged: the same holder
    assert int(lease["metadata"]["resourceVersion"]) > int(version)
    assert a.fence() == Lease(LEASE, "a", 0, clock.now() + DURATION)  # the row renewed too
    assert ("PUT", 200) in server.requests


def test_a_standby_takes_over_once_the_leader_stops_renewing_and_the_old_one_is_fenced(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a, b = replica("a", server.url, stores[0]), replica("b", server.url, stores[1])
    assert a.lead(clock.now())
    clock.advance(1.0)
    assert a.lead(clock.now())
    old = a.fence()
    assert old is not None
    assert not b.lead(clock.now())
    expiry = b.wake_at()
    assert expiry == pytest.approx(clock.now() + DURATION)
    # "a" stops renewing (paused, partitioned); until its lease expires nobody takes it
    clock.advance(DURATION - 0.5)
    assert not b.lead(clock.now())
    clock.advance(0.6)  # past the expiry
    assert clock.now() > expiry
    # a paused leader waking now cannot act: its row expired with the Lease
    with pytest.raises(LeaseLost, match="expired"):
        stores[0].intents.record_intent("k0", {"kind": "restart"}, "inc-1", clock.now(), old)
    assert b.lead(clock.now())
    spec = server.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert spec["acquireTime"] == spec["renewTime"]
    assert at(spec["acquireTime"]) == pytest.approx(clock.now(), abs=2e-6)
    row = stores[1].leases.current(LEASE)
    assert row is not None and (row.holder, row.epoch) == ("b", 1)  # the row's epoch advanced
    # the old leader's intent is refused, the new one's written
    with pytest.raises(LeaseLost, match="held by b"):
        stores[0].intents.record_intent("k1", {"kind": "restart"}, "inc-1", clock.now(), old)
    assert stores[1].intents.record_intent(
        "k2", {"kind": "restart"}, "inc-1", clock.now(), b.fence()
    )
    assert [i.key for i in stores[1].intents.pending()] == ["k2"]
    # the old leader comes back: it stands by behind "b"
    assert not a.lead(clock.now())
    assert a.fence() is None
    assert a.wake_at() == pytest.approx(clock.now() + DURATION)


def test_two_standbys_racing_for_an_expired_lease_get_one_leader(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a = replica("a", server.url, stores[0])
    b, c = replica("b", server.url, stores[1]), replica("c", server.url, stores[2])
    assert a.lead(clock.now())
    clock.advance(DURATION + 0.1)
    now = clock.now()
    server.requests.clear()
    server.read_barrier = threading.Barrier(2)  # both read the same resourceVersion
    results: dict[str, bool] = {}

    def contend(name: str, leadership: KubernetesLeaseLeadership) -> None:
        results[name] = leadership.lead(now)

    threads = [threading.Thread(target=contend, args=p) for p in (("b", b), ("c", c))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    server.read_barrier = None
    assert sorted(results.values()) == [False, True]
    winner, loser = (b, c) if results["b"] else (c, b)
    assert sorted(s for m, s in server.requests if m == "PUT") == [200, 409]
    spec = server.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (winner.holder, 1)
    row = stores[0].leases.current(LEASE)
    assert row is not None and (row.holder, row.epoch) == (winner.holder, 1)
    assert loser.fence() is None
    assert not loser.lead(clock.now())  # and it stands by behind the winner from now on
    assert loser.wake_at() == pytest.approx(now + DURATION)


def test_an_unreachable_api_server_means_not_leading_and_is_logged_once(
    server: LeaseApiServer,
    stores: list[Store],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = replica("a", server.url, stores[0]), replica("b", server.url, stores[1])
    assert a.lead(clock.now())
    assert not b.lead(clock.now())
    server.stop()  # connection refused from now on
    caplog.set_level(logging.INFO, logger="selfheal.loop.leadership_kubernetes")
    for _ in range(3):
        clock.advance(1.0)
        assert a.lead(clock.now()) is False  # no exception, no lead
        assert b.lead(clock.now()) is False
    assert a.fence() is None and b.fence() is None
    assert b.wake_at() is None
    warnings = [
        r
        for r in caplog.records
        if r.name == "selfheal.loop.leadership_kubernetes" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2  # once per replica, not once per cycle
    assert "standing by" in warnings[0].getMessage()


def test_a_released_lease_is_taken_by_a_standby_at_once(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a, b = replica("a", server.url, stores[0]), replica("b", server.url, stores[1])
    assert a.lead(clock.now())
    assert not b.lead(clock.now())
    version = server.lease()["metadata"]["resourceVersion"]
    b.release(clock.now())  # not b's to release: nothing written
    assert server.lease()["metadata"]["resourceVersion"] == version
    clock.advance(0.5)
    a.release(clock.now())
    spec = server.lease()["spec"]
    assert "holderIdentity" not in spec or spec["holderIdentity"] in (None, "")
    assert a.fence() is None
    assert b.lead(clock.now())  # well before the lease would have expired
    spec = server.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    row = stores[1].leases.current(LEASE)
    assert row is not None and (row.holder, row.epoch) == ("b", 1)


def test_a_lease_deleted_and_created_again_never_takes_the_epoch_back(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    a, b = replica("a", server.url, stores[0]), replica("b", server.url, stores[1])
    assert a.lead(clock.now())
    clock.advance(DURATION + 0.1)
    assert b.lead(clock.now())  # epoch 1
    old = b.fence()
    with server.lock:
        server.leases.clear()  # someone deletes the Lease (kubectl delete lease)
    clock.advance(0.5)
    assert a.lead(clock.now())  # creates it again, above the row's epoch
    assert server.lease()["spec"]["leaseTransitions"] == 2
    row = stores[0].leases.current(LEASE)
    assert row is not None and (row.holder, row.epoch) == ("a", 2)
    with pytest.raises(LeaseLost):
        stores[1].intents.record_intent("k", {"kind": "restart"}, "inc-1", clock.now(), old)
    assert not b.lead(clock.now())


# -- configuration and wiring --------------------------------------------------------------


def test_the_kubernetes_lock_needs_the_kubernetes_executor() -> None:
    from selfheal.core.config import parse_config
    from selfheal.core.errors import ConfigError

    assert parse_config({}).ha.lock == "store"
    with pytest.raises(ConfigError) as refused:
        parse_config({"ha": {"enabled": True, "lock": "kubernetes"}}, "test.yaml")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("test.yaml: ha.lock: 'kubernetes' needs executor.type: kubernetes")
    with pytest.raises(ConfigError, match=r"ha\.lock"):
        parse_config({"ha": {"lock": "etcd"}})
    cfg = parse_config({"ha": {"lock": "kubernetes"}, "executor": {"type": "kubernetes"}})
    assert cfg.ha.lock == "kubernetes"


def test_the_wiring_builds_the_lease_lock_in_the_executors_namespace(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfheal.core.config import parse_config
    from selfheal.loop import wiring

    loaded: list[str | None] = []

    def load(kubeconfig: str | None = None, *, in_cluster: bool = False) -> Any:
        loaded.append(kubeconfig)
        return coordination_api(server.url)

    monkeypatch.setattr(wiring, "load_coordination_api", load)
    cfg = parse_config(
        {
            "executor": {"type": "kubernetes", "kubernetes": {"namespace": NS, "kubeconfig": "kc"}},
            "ha": {
                "enabled": True,
                "lock": "kubernetes",
                "lease_name": LEASE,
                "replica_name": "pod-0",
                "lease_seconds": TTL,
            },
        }  # fmt: skip
    )
    leadership = wiring.leadership_for(cfg, stores[0])
    assert isinstance(leadership, KubernetesLeaseLeadership)
    assert loaded == ["kc"]
    assert leadership.lead(clock.now())
    spec = server.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("pod-0", DURATION)
    store_lock = wiring.leadership_for(cfg.model_copy(update={"ha": cfg.ha.model_copy(update={"lock": "store"})}), stores[1])  # fmt: skip
    assert not isinstance(store_lock, KubernetesLeaseLeadership)


# -- the engine over the lock --------------------------------------------------------------


def test_a_standby_engine_takes_over_a_dead_leaders_action_and_never_repeats_it(
    server: LeaseApiServer, stores: list[Store], clock: FakeClock
) -> None:
    """Two engines lead through the Lease: the leader acts and dies mid-action; the
    standby takes over after the Lease expired and verifies that action, never repeating it."""
    from selfheal.analysis.correlation import Correlator
    from selfheal.analysis.rules import LiveDetection
    from selfheal.loop.engine import Engine
    from selfheal.loop.jobs import InlinePool
    from selfheal.loop.settings import EngineSettings
    from selfheal.loop.stages import StoreAdapter

    from .fakes import FakeGuards, FakePlanner, FakePlatform, FakeRanker, FakeRunner, World

    world = World(clock)

    def engine(name: str, store: Store) -> Engine:
        leadership = replica(name, server.url, store)
        return Engine(
            collector=world,
            platform=FakePlatform(world),
            detection=LiveDetection(warmup_samples=3, detector_factory=None),
            correlator=Correlator(window_seconds=60, max_hops=3),
            ranker=FakeRanker(),
            planner=FakePlanner(timeout=20.0),
            guards=FakeGuards(),
            runner=FakeRunner(world),
            store=StoreAdapter(store, fence=leadership.fence),
            clock=clock,
            settings=EngineSettings(cycle_seconds=1.0, resolve_after_seconds=5.0),
            pool=InlinePool(),
            leadership=leadership,
        )

    a, b = engine("a", stores[0]), engine("b", stores[1])

    def cycle(*engines: Engine) -> None:
        for e in engines:
            e.step()
        clock.advance(1.0)

    for _ in range(6):
        cycle(a, b)
    assert a.status()["leader"] and not b.status()["leader"]
    world.broken["cache"] = "RestartService"
    for _ in range(20):
        cycle(a, b)
        if world.executed:
            break
    assert len(world.executed) == 1  # the leader acted, the standby did not
    died_at = clock.now()
    cycles = 0
    while not b.status()["leader"]:
        cycle(b)
        cycles += 1
        assert cycles <= DURATION + 2, "the standby never took over"
    assert clock.now() - died_at >= DURATION - 1
    for _ in range(15):
        cycle(b)
    assert len(world.executed) == 1  # verified by the successor, never repeated
    assert not stores[1].intents.pending()
    assert "intent_reconciled" in [e.kind for e in stores[1].audit.entries()]
    assert server.lease()["spec"]["leaseTransitions"] == 1
    for _ in range(5):  # the old leader comes back and stands by
        cycle(a, b)
    assert b.status()["leader"] and not a.status()["leader"]
    assert len(world.executed) == 1
