"""The local executor: the eight actions over the local platform's HTTP API.

The runner drives it for the embedded default and the demo. It speaks only the
HTTP contract of ``docs/local-platform-api.md`` (the testbed implements it; a
process supervisor could too) and never imports the testbed. Errors from the
API's ``{"error": ...}`` body become ``PermanentError`` (4xx: the request is
wrong and will stay wrong) or ``TemporaryError`` (5xx, connection failures,
timeouts: worth retrying).

Undo per action: ScaleService scales back, UpdateConfiguration restores the
previous revision, RollbackDeployment re-deploys the version it replaced,
DrainTraffic undrains, Failover fails back; RestartService, RestartContainer
and ClearCache leave nothing behind to undo, and their ``Undo`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import CONFIG_RESTORE_PARAMS, Action, ActionKind
from selfheal.execution.base import Undo, Validation


class LocalExecutor:
    """``Executor`` over the local platform's control API at ``control_url``."""

    name = "local"

    def __init__(
        self,
        control_url: str,
        *,
        timeout_seconds: float = 60.0,
        max_replicas: int = 10,
        client: httpx.Client | None = None,
    ) -> None:
        """``timeout_seconds``: per HTTP call; mutating calls return only once the change
        took effect (a restarted instance is ready), so this must cover a restart.
        ``max_replicas``: capacity ceiling for ScaleService."""
        self.base = control_url.rstrip("/") + "/platform"
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._owns_client = client is None
        self._max_replicas = max_replicas
        # replica counts resolved at snapshot time, so a retried relative scale stays put
        self._scale_plans: dict[str, int] = {}

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP --------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        url = f"{self.base}{path}"
        try:
            response = self._client.request(method, url, json=body)
        except httpx.TimeoutException as exc:
            raise TemporaryError(f"{method} {path}: timed out ({exc})", 2.0) from exc
        except httpx.HTTPError as exc:
            raise TemporaryError(f"{method} {path}: platform unreachable: {exc}", 1.0) from exc
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except (ValueError, AttributeError):
                message = response.text.strip() or response.reason_phrase
            text = f"{method} {path}: HTTP {response.status_code}: {message}"
            if response.status_code >= 500 or response.status_code == 429:
                raise TemporaryError(text, 1.0)
            raise PermanentError(text)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise TemporaryError(f"{method} {path}: response is not JSON: {exc}") from exc
        return data if isinstance(data, dict) else {"value": data}

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/status")

    def _service(self, name: str) -> dict[str, Any]:
        services = self.status().get("services", [])
        for s in services:
            if s.get("name") == name:
                return dict(s)
        known = ", ".join(sorted(str(s.get("name")) for s in services))
        raise PermanentError(f"no service {name!r} on the platform (known: {known})")

    def _instance(self, svc: Mapping[str, Any], action: Action) -> dict[str, Any]:
        if action.instance is None:
            raise PermanentError(f"{action.kind.value} needs an instance")
        for inst in svc.get("instances", []):
            if inst.get("id") == action.instance:
                return dict(inst)
        ids = ", ".join(str(i.get("id")) for i in svc.get("instances", []))
        raise PermanentError(f"{action.target} has no instance {action.instance!r} (has: {ids})")

    def _path(self, action: Action, rest: str = "") -> str:
        return f"/services/{action.target}{rest}"

    # -- Executor ----------------------------------------------------------------------

    def validate(self, action: Action) -> Validation:
        try:
            svc = self._service(action.target)
            return self._validate(action, svc)
        except PermanentError as exc:
            return Validation.refuse(str(exc))

    def _validate(self, action: Action, svc: dict[str, Any]) -> Validation:
        kind = action.kind
        if kind in (ActionKind.RESTART_CONTAINER, ActionKind.DRAIN_TRAFFIC):
            inst = self._instance(svc, action)
            if kind == ActionKind.DRAIN_TRAFFIC:
                if inst.get("drained"):
                    return Validation.nothing_to_do(f"{action.instance} is already drained")
                serving = [
                    i
                    for i in svc.get("instances", [])
                    if i.get("id") != action.instance and i.get("ready") and not i.get("drained")
                ]
                if not serving:
                    return Validation.refuse(
                        f"draining {action.instance} would leave {action.target} no ready instance"
                    )
            return Validation.proceed()
        if kind == ActionKind.SCALE_SERVICE:
            current = int(svc.get("replicas", len(svc.get("instances", []))))
            wanted = _scale_target(action, current)
            if wanted < 0:
                return Validation.refuse(f"cannot scale {action.target} to {wanted} replicas")
            if wanted > self._max_replicas:
                return Validation.refuse(
                    f"scaling {action.target} to {wanted} exceeds capacity "
                    f"({self._max_replicas} replicas)"
                )
            if wanted == current:
                return Validation.nothing_to_do(f"{action.target} already has {current} replicas")
            return Validation.proceed(f"{current} -> {wanted} replicas")
        if kind == ActionKind.UPDATE_CONFIGURATION:
            return self._validate_config(action)
        if kind == ActionKind.FAILOVER:
            dep = action.params.get("dependency")
            deps = dict(svc.get("dependencies") or {})
            if not dep:
                return Validation.refuse("Failover needs params.dependency")
            if dep not in deps:
                return Validation.refuse(
                    f"{action.target} has no dependency {dep!r} (has: {', '.join(deps) or 'none'})"
                )
            to = action.params.get("to")
            if to is not None and deps[dep] == to:
                return Validation.nothing_to_do(f"{action.target} already uses {to} for {dep}")
            if to is None and deps[dep] != dep:
                return Validation.nothing_to_do(
                    f"{action.target} already failed over: {dep} -> {deps[dep]}"
                )
            return Validation.proceed()
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            versions = self._call("GET", self._path(action, "/versions"))
            running = str(versions.get("current"))
            history = [str(v) for v in versions.get("history", [])]
            target = action.params.get("version") or _previous(history, running)
            if target is None:
                return Validation.refuse(f"{action.target} has no earlier version to roll back to")
            if target == running:
                return Validation.nothing_to_do(f"{action.target} already runs {running}")
            if target not in history:
                return Validation.refuse(
                    f"{action.target} never ran version {target!r} (history: {history})"
                )
            return Validation.proceed(f"{running} -> {target}")
        return Validation.proceed()  # RestartService, ClearCache: the service exists

    def _validate_config(self, action: Action) -> Validation:
        current = self._call("GET", self._path(action, "/config"))
        revision = int(current.get("revision", 0))
        if _is_restore(action.params):
            history = self._call("GET", self._path(action, "/config/history"))
            wanted = _restore_revision(action.params, history.get("revisions", []), revision)
            if wanted is None:
                return Validation.refuse(
                    f"{action.target} has no config revision matching {dict(action.params)}"
                )
            if wanted == revision:
                return Validation.nothing_to_do(f"{action.target} already runs revision {revision}")
            return Validation.proceed(f"revision {revision} -> {wanted}")
        new = _patched(action.params, dict(current.get("config") or {}))
        if new == current.get("config"):
            return Validation.nothing_to_do(f"{action.target} config already has those values")
        return Validation.proceed()

    def snapshot(self, action: Action) -> Undo:
        kind = action.kind
        if kind == ActionKind.RESTART_SERVICE:
            return Undo.none(action, "a rolling restart leaves no change behind")
        if kind == ActionKind.RESTART_CONTAINER:
            return Undo.none(action, f"restarting {action.instance} leaves no change behind")
        if kind == ActionKind.CLEAR_CACHE:
            return Undo.none(action, "cleared entries refill from the source; nothing to restore")
        svc = self._service(action.target)
        if kind == ActionKind.SCALE_SERVICE:
            current = int(svc.get("replicas", len(svc.get("instances", []))))
            self._scale_plans[_key(action)] = _scale_target(action, current)
            return Undo(
                action,
                True,
                f"scale {action.target} back to {current} replicas",
                {"replicas": current},
            )
        if kind == ActionKind.UPDATE_CONFIGURATION:
            rev = int(self._call("GET", self._path(action, "/config")).get("revision", 0))
            return Undo(
                action, True, f"restore {action.target} config revision {rev}", {"revision": rev}
            )
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            version = str(svc.get("version"))
            return Undo(action, True, f"re-deploy {action.target} {version}", {"version": version})
        if kind == ActionKind.DRAIN_TRAFFIC:
            return Undo(action, True, f"undrain {action.instance}", {"instance": action.instance})
        if kind == ActionKind.FAILOVER:
            dep = str(action.params.get("dependency"))
            target = dict(svc.get("dependencies") or {}).get(dep, dep)
            return Undo(
                action,
                True,
                f"fail {action.target} back to {target} for {dep}",
                {"dependency": dep, "to": target},
            )
        raise PermanentError(f"local executor does not support {kind.value}")

    def execute(self, action: Action) -> str:
        kind = action.kind
        p = action.params
        if kind == ActionKind.RESTART_SERVICE:
            self._call("POST", self._path(action, "/restart"))
            return f"restarted every instance of {action.target}"
        if kind == ActionKind.RESTART_CONTAINER:
            self._call("POST", self._path(action, f"/instances/{action.instance}/restart"))
            return f"restarted {action.instance}"
        if kind == ActionKind.CLEAR_CACHE:
            self._call("POST", self._path(action, "/cache/clear"))
            return f"cleared the cache of {action.target}"
        if kind == ActionKind.DRAIN_TRAFFIC:
            self._call("POST", self._path(action, f"/instances/{action.instance}/drain"))
            return f"drained {action.instance}"
        if kind == ActionKind.SCALE_SERVICE:
            # an absolute count fixed at snapshot time, so a retry after an ambiguous
            # timeout does not scale twice
            wanted = self._scale_plans.get(_key(action))
            if wanted is None:
                current = int(self._service(action.target).get("replicas", 0))
                wanted = _scale_target(action, current)
            self._call("POST", self._path(action, "/scale"), {"replicas": wanted})
            self._scale_plans.pop(_key(action), None)
            return f"scaled {action.target} to {wanted} replicas"
        if kind == ActionKind.UPDATE_CONFIGURATION:
            return self._execute_config(action)
        if kind == ActionKind.FAILOVER:
            body: dict[str, Any] = {"dependency": p["dependency"]}
            if p.get("to"):
                body["to"] = p["to"]
            self._call("POST", self._path(action, "/failover"), body)
            return f"failed {action.target} over for {p['dependency']}"
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            body = {"version": p["version"]} if p.get("version") else {}
            self._call("POST", self._path(action, "/rollback"), body)
            version = self._call("GET", self._path(action, "/versions")).get("current")
            return f"rolled {action.target} back to {version}"
        raise PermanentError(f"local executor does not support {kind.value}")

    def _execute_config(self, action: Action) -> str:
        current = self._call("GET", self._path(action, "/config"))
        if _is_restore(action.params):
            history = self._call("GET", self._path(action, "/config/history"))
            wanted = _restore_revision(
                action.params, history.get("revisions", []), int(current.get("revision", 0))
            )
            if wanted is None:
                raise PermanentError(f"no config revision matching {dict(action.params)}")
            new = self._call("POST", self._path(action, "/config/restore"), {"revision": wanted})
            return f"restored {action.target} config revision {wanted} (now revision {new.get('revision')})"
        config = _patched(action.params, dict(current.get("config") or {}))
        new = self._call("PUT", self._path(action, "/config"), {"config": config})
        return f"updated {action.target} config (now revision {new.get('revision')})"

    def rollback(self, action: Action, undo: Undo) -> str:
        if not undo.reversible:
            return f"nothing to undo: {undo.description}"
        s = undo.state
        kind = action.kind
        if kind == ActionKind.SCALE_SERVICE:
            self._call("POST", self._path(action, "/scale"), {"replicas": int(s["replicas"])})
        elif kind == ActionKind.UPDATE_CONFIGURATION:
            self._call(
                "POST", self._path(action, "/config/restore"), {"revision": int(s["revision"])}
            )
        elif kind == ActionKind.ROLLBACK_DEPLOYMENT:
            self._call("POST", self._path(action, "/deploy"), {"version": s["version"]})
        elif kind == ActionKind.DRAIN_TRAFFIC:
            self._call("POST", self._path(action, f"/instances/{s['instance']}/undrain"))
        elif kind == ActionKind.FAILOVER:
            self._call(
                "POST",
                self._path(action, "/failover"),
                {"dependency": s["dependency"], "to": s["to"]},
            )
        else:
            raise PermanentError(f"no undo for {kind.value}")
        return undo.description


def _key(action: Action) -> str:
    return action.describe()


def _scale_target(action: Action, current: int) -> int:
    if "replicas" in action.params:
        return int(action.params["replicas"])
    return current + int(action.params.get("delta", 1))


def _previous(history: list[str], current: str) -> str | None:
    for version in reversed(history):
        if version != current:
            return version
    return None


def _is_restore(params: Mapping[str, Any]) -> bool:
    return any(k in params for k in CONFIG_RESTORE_PARAMS)


def _restore_revision(
    params: Mapping[str, Any], revisions: list[Mapping[str, Any]], current: int
) -> int | None:
    """The revision a restore asks for, or None when history has no such revision."""
    known = sorted(revisions, key=lambda r: int(r.get("revision", 0)))
    if "revision" in params:
        wanted = int(params["revision"])
        return wanted if any(int(r["revision"]) == wanted for r in known) else None
    if "restore_before" in params:
        before = float(params["restore_before"])
        older = [r for r in known if float(r.get("at", 0.0)) < before]
        return int(older[-1]["revision"]) if older else None
    if params.get("restore") == "previous":
        older = [r for r in known if int(r["revision"]) < current]
        return int(older[-1]["revision"]) if older else None
    raise PermanentError(f"unknown config restore {dict(params)}")


def _patched(params: Mapping[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    new = dict(config)
    for key, value in dict(params.get("patch") or {}).items():
        new[key] = value
    for key, factor in dict(params.get("multiply") or {}).items():
        value = new.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PermanentError(f"config key {key!r} is {value!r}, not a number to multiply")
        product = value * float(factor)
        new[key] = int(round(product)) if isinstance(value, int) else product
    if not params.get("patch") and not params.get("multiply"):
        raise PermanentError(
            "UpdateConfiguration needs revision, restore, restore_before, patch or multiply"
        )
    return new
