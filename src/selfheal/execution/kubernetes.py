"""The Kubernetes executor: remediation actions through the official client.

The runner drives it when the loop runs against a cluster. A service is a
Deployment (named after the service by default) and its configuration a
ConfigMap; an instance is a Pod. The ``kubernetes`` package is imported here
only, and lazily, so the rest of selfheal runs without it.

- RestartService: rollout restart — patch the pod template annotation
  ``kubectl.kubernetes.io/restartedAt`` (what ``kubectl rollout restart`` does).
- ScaleService: the Deployment's ``scale`` subresource; undo scales back.
- UpdateConfiguration: patch the ConfigMap's data (``patch`` / ``multiply``);
  undo writes the captured data back. ConfigMaps keep no history, so
  ``restore``/``revision`` are refused (roll the Deployment back instead).
- RollbackDeployment: rollout undo — copy the pod template of an earlier
  ReplicaSet revision (``deployment.kubernetes.io/revision``) into the
  Deployment, like ``kubectl rollout undo``; undo restores the captured template.
- RestartContainer: delete the Pod; its ReplicaSet replaces it.
- DrainTraffic: evict the Pod through the Eviction API, which respects
  PodDisruptionBudgets (a 429 is a ``TemporaryError``: retry later); with
  ``params.node``, cordon the Node and evict its Pods; undo uncordons.
- ClearCache, Failover: not Kubernetes operations; refused with a hint to use
  the webhook executor.

``load_apis`` builds the API objects (kubeconfig, in-cluster service account,
``~/.kube/config``) and ``api_error`` maps a failed call to ``TemporaryError`` /
``PermanentError``; the namespace view (``kubernetes_view``) shares both.
``load_coordination_api`` builds the Leases' API object, from the same credentials, for
the high-availability lock (``ha.lock: kubernetes``, ``loop.leadership_kubernetes``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.errors import ConfigError, PermanentError, TemporaryError
from selfheal.core.types import CONFIG_RESTORE_PARAMS, Action, ActionKind
from selfheal.execution.base import Undo, Validation

#: The API permissions this executor, the namespace view (``kubernetes_view``) and the
#: high-availability lock on a Lease (``loop.leadership_kubernetes``, ``ha.lock: kubernetes``)
#: use: (API group, resource, verbs). The README's table and the RBAC manifests of
#: ``deploy/kubernetes`` grant exactly these (tests/deploy derives them from the calls made
#: there and checks all three); nodes are cluster-scoped, so a ClusterRole grants those.
RBAC_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("apps", "deployments", ("get", "list", "patch")),
    ("apps", "deployments/scale", ("get", "patch")),
    ("apps", "replicasets", ("list",)),
    ("", "pods", ("get", "list", "delete")),
    ("", "pods/eviction", ("create",)),
    ("", "configmaps", ("get", "list", "patch")),
    ("", "nodes", ("get", "patch")),
    ("coordination.k8s.io", "leases", ("get", "create", "update")),
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"


class KubernetesExecutor:
    """``Executor`` over a Kubernetes namespace."""

    name = "kubernetes"

    def __init__(
        self,
        namespace: str = "default",
        *,
        apps_api: Any = None,
        core_api: Any = None,
        deployment_name: str = "{service}",
        config_map_name: str = "{service}-config",
        max_replicas: int = 50,
        kubeconfig: str | None = None,
        in_cluster: bool = False,
        clock: Clock | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        """Pass ``apps_api``/``core_api`` (``AppsV1Api``/``CoreV1Api``) or let the executor
        build them from ``kubeconfig`` or the in-cluster service account.
        ``timeout_seconds`` bounds each API call (no answer: ``TemporaryError``)."""
        self.namespace = namespace
        self._deployment = deployment_name
        self._config_map = config_map_name
        self._max_replicas = max_replicas
        self._clock = clock or SystemClock()
        self._timeout = timeout_seconds
        if apps_api is None or core_api is None:
            built_apps, built_core = load_apis(kubeconfig, in_cluster=in_cluster)
            apps_api = apps_api or built_apps
            core_api = core_api or built_core
        self.apps = apps_api
        self.core = core_api

    # -- helpers -----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as TransportError

        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            raise api_error(what, exc) from exc
        except (TransportError, OSError) as exc:
            raise TemporaryError(f"{what}: Kubernetes API unreachable: {exc}", 2.0) from exc

    def _name(self, action: Action) -> str:
        return self._deployment.format(service=action.target)

    def _cm_name(self, action: Action) -> str:
        return self._config_map.format(service=action.target)

    def _read_deployment(self, action: Action) -> Any:
        name = self._name(action)
        return self._call(
            f"read deployment {self.namespace}/{name}",
            self.apps.read_namespaced_deployment,
            name,
            self.namespace,
        )

    def _replicas(self, action: Action) -> int:
        name = self._name(action)
        scale = self._call(
            f"read scale of {self.namespace}/{name}",
            self.apps.read_namespaced_deployment_scale,
            name,
            self.namespace,
        )
        return int(scale.spec.replicas or 0)

    def _config_data(self, action: Action) -> dict[str, str]:
        name = self._cm_name(action)
        cm = self._call(
            f"read configmap {self.namespace}/{name}",
            self.core.read_namespaced_config_map,
            name,
            self.namespace,
        )
        return dict(cm.data or {})

    def _revisions(self, deployment: Any) -> list[tuple[int, Any]]:
        """(revision, ReplicaSet) owned by ``deployment``, oldest first."""
        labels = deployment.spec.selector.match_labels or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        listing = self._call(
            f"list replicasets of {deployment.metadata.name}",
            self.apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=selector,
        )
        out = []
        for rs in listing.items:
            owners = rs.metadata.owner_references or []
            if not any(o.uid == deployment.metadata.uid for o in owners):
                continue
            rev = (rs.metadata.annotations or {}).get(REVISION)
            if rev is not None and str(rev).isdigit():
                out.append((int(rev), rs))
        return sorted(out, key=lambda p: p[0])

    def _rollback_target(self, action: Action, deployment: Any) -> tuple[int, Any] | None:
        current = int((deployment.metadata.annotations or {}).get(REVISION, "0") or 0)
        revisions = self._revisions(deployment)
        wanted = action.params.get("revision", action.params.get("version"))
        if wanted is not None:
            for rev, rs in revisions:
                if str(rev) == str(wanted).lstrip("v") or rs.metadata.name == wanted:
                    return rev, rs
            return None
        older = [(rev, rs) for rev, rs in revisions if rev < current]
        return older[-1] if older else None

    def _evict(self, pod: str) -> None:
        from kubernetes import client

        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=self.namespace))
        self._call(
            f"evict pod {self.namespace}/{pod}",
            self.core.create_namespaced_pod_eviction,
            pod,
            self.namespace,
            body,
        )

    # -- Executor ----------------------------------------------------------------------

    def validate(self, action: Action) -> Validation:
        try:
            return self._validate(action)
        except PermanentError as exc:
            return Validation.refuse(str(exc))

    def _validate(self, action: Action) -> Validation:
        kind = action.kind
        if kind in (ActionKind.CLEAR_CACHE, ActionKind.FAILOVER):
            return Validation.refuse(
                f"{kind.value} is not a Kubernetes operation; route it to a webhook executor"
            )
        if kind == ActionKind.DRAIN_TRAFFIC and action.params.get("node"):
            node = str(action.params["node"])
            found = self._call(f"read node {node}", self.core.read_node, node)
            if found.spec is not None and found.spec.unschedulable:
                return Validation.nothing_to_do(f"node {node} is already cordoned")
            return Validation.proceed()
        deployment = self._read_deployment(action)
        if kind in (ActionKind.RESTART_CONTAINER, ActionKind.DRAIN_TRAFFIC):
            if action.instance is None:
                return Validation.refuse(f"{kind.value} needs an instance (a pod name)")
            pod = self._call(
                f"read pod {self.namespace}/{action.instance}",
                self.core.read_namespaced_pod,
                action.instance,
                self.namespace,
            )
            wanted = deployment.spec.selector.match_labels or {}
            labels = pod.metadata.labels or {}
            if any(labels.get(k) != v for k, v in wanted.items()):
                return Validation.refuse(
                    f"pod {action.instance} does not belong to deployment {self._name(action)}"
                )
            return Validation.proceed()
        if kind == ActionKind.SCALE_SERVICE:
            current = self._replicas(action)
            wanted_n = _scale_target(action, current)
            if wanted_n < 0:
                return Validation.refuse(f"cannot scale to {wanted_n} replicas")
            if wanted_n > self._max_replicas:
                return Validation.refuse(
                    f"scaling to {wanted_n} exceeds capacity ({self._max_replicas} replicas)"
                )
            if wanted_n == current:
                return Validation.nothing_to_do(f"already {current} replicas")
            return Validation.proceed(f"{current} -> {wanted_n} replicas")
        if kind == ActionKind.UPDATE_CONFIGURATION:
            if any(k in action.params for k in CONFIG_RESTORE_PARAMS):
                return Validation.refuse(
                    "ConfigMaps keep no revision history: restore is not possible; "
                    "roll the deployment back instead"
                )
            data = self._config_data(action)
            if _patched(action.params, data) == data:
                return Validation.nothing_to_do("the ConfigMap already has those values")
            return Validation.proceed()
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            target = self._rollback_target(action, deployment)
            if target is None:
                return Validation.refuse(
                    f"deployment {self._name(action)} has no earlier revision matching "
                    f"{dict(action.params) or 'the previous one'}"
                )
            return Validation.proceed(f"to revision {target[0]}")
        return Validation.proceed()

    def snapshot(self, action: Action) -> Undo:
        kind = action.kind
        if kind == ActionKind.RESTART_SERVICE:
            return Undo.none(action, "a rollout restart leaves no change behind")
        if kind == ActionKind.RESTART_CONTAINER:
            return Undo.none(action, "a deleted pod is replaced by its ReplicaSet")
        if kind == ActionKind.DRAIN_TRAFFIC:
            if action.params.get("node"):
                node = str(action.params["node"])
                return Undo(action, True, f"uncordon node {node}", {"node": node})
            return Undo.none(action, "an evicted pod is replaced by its ReplicaSet")
        if kind == ActionKind.SCALE_SERVICE:
            n = self._replicas(action)
            return Undo(action, True, f"scale {self._name(action)} back to {n}", {"replicas": n})
        if kind == ActionKind.UPDATE_CONFIGURATION:
            data = self._config_data(action)
            return Undo(
                action, True, f"write back ConfigMap {self._cm_name(action)}", {"data": data}
            )
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            deployment = self._read_deployment(action)
            template = copy.deepcopy(deployment.spec.template)
            return Undo(
                action,
                True,
                f"restore the pod template of {self._name(action)}",
                {"template": template},
            )
        raise PermanentError(f"{kind.value} is not a Kubernetes operation")

    def execute(self, action: Action) -> str:
        kind = action.kind
        name = self._name(action)
        ns = self.namespace
        if kind == ActionKind.RESTART_SERVICE:
            stamp = datetime.fromtimestamp(self._clock.now(), tz=UTC).isoformat()
            body: dict[str, Any] = {
                "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}
            }
            self._call(
                f"restart {ns}/{name}", self.apps.patch_namespaced_deployment, name, ns, body
            )
            return f"rollout restart of {name} at {stamp}"
        if kind == ActionKind.RESTART_CONTAINER:
            pod = str(action.instance)
            self._call(f"delete pod {ns}/{pod}", self.core.delete_namespaced_pod, pod, ns)
            return f"deleted pod {pod}"
        if kind == ActionKind.SCALE_SERVICE:
            n = _scale_target(action, self._replicas(action))
            body = {"spec": {"replicas": n}}  # the new count
            self._call(
                f"scale {ns}/{name}", self.apps.patch_namespaced_deployment_scale, name, ns, body
            )
            return f"scaled {name} to {n}"
        if kind == ActionKind.UPDATE_CONFIGURATION:
            cm = self._cm_name(action)
            data = _patched(action.params, self._config_data(action))
            self._call(
                f"patch configmap {ns}/{cm}",
                self.core.patch_namespaced_config_map,
                cm,
                ns,
                {"data": data},
            )
            return f"patched ConfigMap {cm}"
        if kind == ActionKind.ROLLBACK_DEPLOYMENT:
            deployment = self._read_deployment(action)
            target = self._rollback_target(action, deployment)
            if target is None:
                raise PermanentError(f"deployment {name} has no earlier revision")
            rev, rs = target
            template = copy.deepcopy(rs.spec.template)
            labels = dict(template.metadata.labels or {})
            labels.pop("pod-template-hash", None)
            template.metadata.labels = labels
            self._call(
                f"roll back {ns}/{name}",
                self.apps.patch_namespaced_deployment,
                name,
                ns,
                {"spec": {"template": template}},
            )
            return f"rolled {name} back to revision {rev}"
        if kind == ActionKind.DRAIN_TRAFFIC:
            node = action.params.get("node")
            if not node:
                self._evict(str(action.instance))
                return f"evicted pod {action.instance}"
            self._call(
                f"cordon node {node}", self.core.patch_node, node, {"spec": {"unschedulable": True}}
            )
            pods = self._call(
                f"list pods on {node}",
                self.core.list_namespaced_pod,
                ns,
                field_selector=f"spec.nodeName={node}",
            )
            evicted = []
            for pod in pods.items:
                owners = pod.metadata.owner_references or []
                if any(o.kind == "DaemonSet" for o in owners):
                    continue  # DaemonSet pods belong on every node; kubectl drain skips them too
                self._evict(pod.metadata.name)
                evicted.append(pod.metadata.name)
            return f"cordoned {node}, evicted {len(evicted)} pod(s)"
        raise PermanentError(f"{kind.value} is not a Kubernetes operation")

    def rollback(self, action: Action, undo: Undo) -> str:
        if not undo.reversible:
            return f"nothing to undo: {undo.description}"
        kind = action.kind
        name = self._name(action)
        ns = self.namespace
        s = undo.state
        if kind == ActionKind.SCALE_SERVICE:
            body = {"spec": {"replicas": int(s["replicas"])}}
            self._call(
                f"scale {ns}/{name}", self.apps.patch_namespaced_deployment_scale, name, ns, body
            )
        elif kind == ActionKind.UPDATE_CONFIGURATION:
            cm = self._cm_name(action)
            old: Mapping[str, str] = s["data"]
            now = self._config_data(action)
            # a merge patch removes keys set to null: drop what the action added
            data: dict[str, str | None] = {k: None for k in now if k not in old}
            data.update(old)
            self._call(
                f"restore configmap {ns}/{cm}",
                self.core.patch_namespaced_config_map,
                cm,
                ns,
                {"data": data},
            )
        elif kind == ActionKind.ROLLBACK_DEPLOYMENT:
            self._call(
                f"restore template of {ns}/{name}",
                self.apps.patch_namespaced_deployment,
                name,
                ns,
                {"spec": {"template": s["template"]}},
            )
        elif kind == ActionKind.DRAIN_TRAFFIC:
            node = str(s["node"])
            self._call(
                f"uncordon node {node}",
                self.core.patch_node,
                node,
                {"spec": {"unschedulable": False}},
            )
        else:
            raise PermanentError(f"no undo for {kind.value}")
        return undo.description


def load_apis(kubeconfig: str | None = None, *, in_cluster: bool = False) -> tuple[Any, Any]:
    """``(AppsV1Api, CoreV1Api)`` for a kubeconfig file, or the in-cluster service
    account (``in_cluster``, or no ``kubeconfig`` and running in a pod), else
    ``~/.kube/config``. Raises ``ConfigError`` when none of them loads."""
    from kubernetes import client

    _load_client_config(kubeconfig, in_cluster)
    return client.AppsV1Api(), client.CoreV1Api()


def load_coordination_api(kubeconfig: str | None = None, *, in_cluster: bool = False) -> Any:
    """``CoordinationV1Api`` (Leases: ``ha.lock: kubernetes``), from the same
    credentials as ``load_apis``. Raises ``ConfigError`` when none of them loads."""
    from kubernetes import client

    _load_client_config(kubeconfig, in_cluster)
    return client.CoordinationV1Api()


def _load_client_config(kubeconfig: str | None, in_cluster: bool) -> None:
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        if in_cluster or (kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST")):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as exc:
        where = kubeconfig or ("the in-cluster service account" if in_cluster else "~/.kube/config")
        raise ConfigError(
            f"cannot load the Kubernetes client configuration from {where}: {exc}"
        ) from None


def api_error(what: str, exc: Exception) -> TemporaryError | PermanentError:
    """The loop's error for a failed API call: retryable (429, 409, 5xx, no answer)
    or permanent (404, 403, other 4xx)."""
    message = _api_message(exc)
    status = int(getattr(exc, "status", 0) or 0)
    if status == 429:
        return TemporaryError(
            f"{what}: too many requests or blocked by a PodDisruptionBudget: {message}", 5.0
        )
    if status >= 500 or status == 409 or status == 0:
        return TemporaryError(f"{what}: HTTP {status}: {message}", 2.0)
    if status == 404:
        return PermanentError(f"{what}: not found: {message}")
    return PermanentError(f"{what}: HTTP {status}: {message}")


def _api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message", body))
        except (ValueError, AttributeError):
            return str(body)
    return str(getattr(exc, "reason", "") or exc)


def _scale_target(action: Action, current: int) -> int:
    if "replicas" in action.params:
        return int(action.params["replicas"])
    return current + int(action.params.get("delta", 1))


def _patched(params: Mapping[str, Any], data: Mapping[str, str]) -> dict[str, str]:
    """ConfigMap data after ``patch``/``multiply`` (values stay strings)."""
    new = dict(data)
    for key, value in dict(params.get("patch") or {}).items():
        new[key] = value if isinstance(value, str) else json.dumps(value)
    for key, factor in dict(params.get("multiply") or {}).items():
        raw = new.get(key)
        try:
            number = float(raw) if raw is not None else None
        except ValueError:
            number = None
        if number is None:
            raise PermanentError(f"ConfigMap key {key!r} is {raw!r}, not a number to multiply")
        product = number * float(factor)
        new[key] = str(int(round(product))) if str(raw).lstrip("-").isdigit() else str(product)
    if not params.get("patch") and not params.get("multiply"):
        raise PermanentError("UpdateConfiguration on Kubernetes needs patch or multiply")
    return new
