"""The testbed: a small real shop to heal. Not part of the product — the
product never imports it and sees it only as it would see a real system:
HTTP, Prometheus metrics, JSON log files, OTLP traces, and the platform
operations of the control port (``docs/local-platform-api.md``).

The shop
--------
Ten services, each instance a real OS process on 127.0.0.1 (free ports)::

    frontend → catalog, cart, checkout      checkout → cart, payment, inventory, shipping
    catalog  → inventory                    cart     → cache
    payment  → bank (or its standby bank-b after a failover)

Default replicas: 2 for frontend, catalog, cart, checkout; 1 for the rest. Each
service has a health-aware load balancer (``lb_url``) that skips drained and
not-ready instances. Versions: ``v1`` is good, ``v2`` carries a real bug in
each service's code. Every config write is a revision; restore and rollback
have a history to go back to. The cache persists to a snapshot, so corrupt
data outlives a restart of the cache.

Python API
----------
::

    from selfheal.testbed import Shop, LoadGenerator, ControlClient

    shop = Shop.start("runs/demo", otlp_endpoint="http://127.0.0.1:4318/v1/traces",
                      replicas={"cart": 3})        # returns once every instance is ready
    shop.control_url                               # "http://127.0.0.1:PORT" (the contract)
    shop.frontend_url                              # where shoppers enter
    load = LoadGenerator(shop.frontend_url, rate=10).start()
    client = ControlClient(shop.control_url)
    fault = client.inject("latency", "cart", instance="cart-0", params={"delay_ms": 800},
                          duration=60)             # POST /faults
    load.stats(window_seconds=5)                   # LoadStats: .success_ratio,
    #   .journeys["checkout"], .payment, .latency_p50_ms, .latency_p99_ms, .to_dict()
    client.instance_op("cart", "cart-0", "restart")   # a platform operation heals it
    client.stop_fault(fault["id"]); load.stop(); shop.stop()   # nothing left running

``start_detached(run_dir)`` / ``stop_detached(run_dir)`` run the shop in a
background process group (what ``selfheal testbed up``/``down`` use); the
state file ``<run_dir>/testbed.json`` holds the control URL and pids.

Faults, their symptoms, and the platform operation that truly fixes them
------------------------------------------------------------------------
Every fault targets a service (all its running instances) or one instance,
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
                  service's main route, errors in logs
dependency_outage bank (or bank-b) answers 503 to everything,  fail over payment to the standby
                  /ready too, also after restarts: payments    (``failover`` dependency=bank)
                  fail
cache_corruption  every cache entry overwritten with garbage;  clear the cache (a restart does
                  persists in the snapshot: cart 500s,         NOT fix it: the snapshot is
                  checkouts fail, the cache itself looks fine  reloaded)
pool_exhaustion   config revision shrinks the connection pool  restore the previous config
                  to ``size`` (0) with a ``timeout_ms`` (5)    revision (scaling out does not
                  wait: pool_connections_max drops,            help: every new instance gets
                  pool_wait_timeouts_total rises, requests     the same pool). ``size=1`` makes
                  that call others answer 503                  it load-dependent: ~20 % of
                                                               frontend requests fail at 20
                                                               journeys/s, none at 10
================= ============================================ ===================================

Modules: ``topology`` (services), ``instance``/``apps``/``effects``/
``telemetry``/``upstream`` (inside an instance process), ``zygote``/``process``
(launching), ``balancer``, ``configstore``, ``platform``, ``faults``,
``control`` (the HTTP contract), ``shop``/``daemon`` (running it), ``client``,
``load``.
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
    "FAULTS": "selfheal.testbed.faults",
    "CATALOGUE": "selfheal.testbed.faults",
    "SERVICES": "selfheal.testbed.topology",
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
