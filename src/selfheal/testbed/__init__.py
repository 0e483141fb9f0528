"""The testbed: a small real shop to heal. Not part of the product — the
product never imports it and sees it only as it would see a real system:
HTTP, Prometheus metrics, JSON log files, OTLP traces, and the platform
operations of the control port (``docs/local-platform-api.md``).

The shop and its topology
-------------------------
The shop's shape comes from a topology file (``docs/topology.md``): services with
free names and a role each (entry, service, cache, database, external), instance
counts, the routes and whom each calls, which services emit the business
counters, and the shoppers' journeys. Behaviour is per role, never per name.
The shipped topologies live in ``topologies/`` at the repository's root; the
default, ``shop``, has ten services, each instance a real OS process on
127.0.0.1 (free ports)::

    frontend → catalog, cart, checkout      checkout → cart, payment, inventory, shipping
    catalog  → inventory                    cart     → cache
    payment  → bank (or its standby bank-b after a failover)

Default replicas: 2 for frontend, catalog, cart, checkout; 1 for the rest. Each
service has a health-aware load balancer (``lb_url``) that skips drained and
not-ready instances. Versions: ``v1`` is good, ``v2`` carries a real bug in
each role's code. Every config write is a revision; restore and rollback
have a history to go back to. A cache persists to a snapshot, so corrupt
data outlives a restart of the cache.

Python API
----------
::

    from selfheal.testbed import Shop, LoadGenerator, LoadPlan, ControlClient, find_topology

    shop = Shop.start("runs/demo", otlp_endpoint="http://127.0.0.1:4318/v1/traces",
                      replicas={"cart": 3},        # returns once every instance is ready
                      topology=find_topology("shop"))   # a shipped name or a file
    shop.control_url                               # "http://127.0.0.1:PORT" (the contract)
    shop.entry_url                                 # where shoppers enter
    load = LoadGenerator(shop.entry_url, rate=10, plan=LoadPlan.of(shop.topology)).start()
    client = ControlClient(shop.control_url)
    fault = client.inject("latency", "cart", instance="cart-0", params={"delay_ms": 800},
                          duration=60)             # POST /faults
    load.stats(window_seconds=5)                   # LoadStats: .success_ratio,
    #   .journeys["checkout"], .payment, .latency_p50_ms, .latency_p99_ms, .to_dict()
    client.instance_op("cart", "cart-0", "restart")   # a platform operation heals it
    client.stop_fault(fault["id"]); load.stop(); shop.stop()   # nothing left running

``start_detached(run_dir, topology=FILE)`` / ``stop_detached(run_dir)`` run the
shop in a background process group (what ``selfheal testbed up``/``down`` use);
the state file ``<run_dir>/testbed.json`` holds the control URL, pids and topology.

Faults, their symptoms, and the platform operation that truly fixes them
------------------------------------------------------------------------
Every fault targets a service (all its running instances) or one instance
whose role allows it (``FaultInfo.roles``; see ``selfheal inject list``),
is stoppable (``DELETE /faults/{id}`` undoes it) and stops by itself after its
``duration``. ``active`` in ``GET /faults`` says whether it still acts.

================= ============================================ ===================================
fault             symptom (seen from outside)                  remediation that truly fixes it
================= ============================================ ===================================
crash             instance exits after an ERROR "fatal" log;   restart (or start) the instance;
                  health false, pid null; 1-replica service    the platform never restarts it
                  answers 503                                  by itself
hang              SIGSTOP: process alive, answers nothing;     restart the instance (the stopped
                  probes time out → not ready; callers time    process is killed)
                  out
latency           business requests delayed ``delay_ms``       restart the instance (in-process
                  (default 500): latency histograms up         effect dies with it); draining it
                                                               also hides it if replicas remain
errors            ``rate`` (0.5) of business requests → 500    restart the instance
memory_leak       RSS grows ``rate_mb``/s up to ``max_mb``     restart the instance
cpu_hog           ``threads`` busy threads: CPU ~1 s/s each,   restart the instance
                  latency up (GIL contention)
network_delay     calls from the target to dependency ``to``   restart the calling instance(s)
                  take ``delay_ms`` (300) longer               (the delay lives in its client)
bad_config        config revision with an unreachable         restore the previous config
                  dependency URL (or 1 ms timeout with         revision (a restart does NOT fix
                  ``mode=timeout``): upstream errors, 502s     it: the config persists)
bad_release       deploys v2 (real code bug): 5xx on the       roll back (restart does not fix)
                  service's routes (a cache's v2 breaks its
                  callers), errors in logs
dependency_outage an external provider answers 503 to          fail its caller over to the
                  everything, /ready too, also after           standby (``failover``
                  restarts: its callers fail (shop: payments)  dependency=<provider>)
cache_corruption  every cache entry overwritten with garbage;  clear the cache (a restart does
                  persists in the snapshot: the callers 500    NOT fix it: the snapshot is
                  (shop: cart, checkouts fail), the cache      reloaded)
                  itself looks fine
pool_exhaustion   config revision shrinks the connection pool  restore the previous config
                  (a caller's, or a database's own)            revision (scaling out does not
                  to ``size`` (0) with a ``timeout_ms`` (5)    help: every new instance gets
                  wait: pool_connections_max drops,            the same pool). ``size=1`` makes
                  pool_wait_timeouts_total rises, requests     it load-dependent: ~20 % of
                  that need the pool answer 503                frontend requests fail at 20
                                                               journeys/s, none at 10
================= ============================================ ===================================

Modules: ``topology``/``topology_file`` (the shape and its YAML format),
``instance``/``apps``/``service_app``/``cache_app``/``database_app``/
``external_app``/``effects``/``telemetry``/``upstream`` (inside an instance
process), ``zygote``/``process`` (launching), ``balancer``, ``prober``,
``configstore``, ``platform``, ``faults``, ``control`` (the HTTP contract),
``shop``/``daemon`` (running it), ``client``, ``load``, ``scenarios`` (fault
campaigns).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Shop": "selfheal.testbed.shop",
    "ShopState": "selfheal.testbed.shop",
    "start_detached": "selfheal.testbed.shop",
    "stop_detached": "selfheal.testbed.shop",
    "default_run_dir": "selfheal.testbed.shop",
    "LoadGenerator": "selfheal.testbed.load",
    "LoadStats": "selfheal.testbed.load",
    "JourneyStats": "selfheal.testbed.load",
    "ControlClient": "selfheal.testbed.client",
    "ControlError": "selfheal.testbed.client",
    "LoadPlan": "selfheal.testbed.load",
    "FAULTS": "selfheal.testbed.faults",
    "CATALOGUE": "selfheal.testbed.faults",
    "Topology": "selfheal.testbed.topology",
    "Role": "selfheal.testbed.topology",
    "find_topology": "selfheal.testbed.topology_file",
    "load_topology": "selfheal.testbed.topology_file",
    "TopologyError": "selfheal.testbed.topology_file",
    "generate_scenario": "selfheal.testbed.scenarios",
    "TestbedError": "selfheal.testbed.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so an instance process (which imports selfheal.testbed.instance)
    # does not load the control-side modules.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'selfheal.testbed' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
