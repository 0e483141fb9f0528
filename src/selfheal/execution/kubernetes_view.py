"""What a Kubernetes namespace looks like, for the loop's planning context.

The loop's platform view (``selfheal.loop.platform.ObservedPlatformView``)
calls ``KubernetesNamespaceView.services()`` once per cycle when the loop runs
with ``executor.type: kubernetes``; it only reads (three list calls: Deployments,
Pods, ConfigMaps) and never changes the cluster — actions go through
``KubernetesExecutor``. Like the executor, it is the only other module that
imports the ``kubernetes`` client.

The mapping, the same one the executor acts on:

- service: a Deployment whose name fits the ``deployment_name`` template
  (``"{service}"`` by default);
- instances: its Pods (the Deployment's label selector; Pods that already ended,
  e.g. evicted ones, are left out); unready: Pods whose ``Ready`` condition is not
  ``True``, or that are being deleted;
- version: the image tag of the pod template's first container (the digest when
  the image is pinned by digest only, ``latest`` when it names neither);
- config revision: the service's ConfigMap (``config_map_name``,
  ``"{service}-config"``). Its ``resourceVersion`` is opaque, so the view numbers
  the distinct values it has seen per service, 1, 2, 3… (0: no ConfigMap); a new
  number is a config push. The Deployment's revision annotation is not used: it
  moves with the pod template, which the version already tracks;
- role, criticality, external: the Deployment's annotation or label
  ``selfheal.io/role`` (``entry``, ``cache``, ``database``…),
  ``selfheal.io/criticality`` (0..1) and ``selfheal.io/external`` (``true``); the
  annotation wins over the label. Absent or malformed: a plain service of
  criticality 0.5 (configuration may still set them, ``platform.services``).

Change events come from successive observations (``ChangeTracker``, in the loop's
view). A failed read raises ``TemporaryError`` (no answer, 5xx, 429) or
``PermanentError`` (403: the service account may not list; other 4xx).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.platform import ServiceState
from selfheal.execution.kubernetes import api_error, load_apis

ROLE_KEY = "selfheal.io/role"
CRITICALITY_KEY = "selfheal.io/criticality"
EXTERNAL_KEY = "selfheal.io/external"


def _fraction(text: object, default: float) -> float:
    """A number in 0..1 from an annotation's text; ``default`` when it is not one."""
    try:
        value = float(str(text))
    except ValueError:
        return default
    return min(1.0, max(0.0, value)) if value == value else default


class KubernetesNamespaceView:
    """The services of one namespace, read through the official client."""

    def __init__(
        self,
        namespace: str = "default",
        *,
        apps_api: Any = None,
        core_api: Any = None,
        deployment_name: str = "{service}",
        config_map_name: str = "{service}-config",
        timeout_seconds: float = 5.0,
        kubeconfig: str | None = None,
        in_cluster: bool = False,
    ) -> None:
        """Pass ``apps_api``/``core_api`` or let the view build them like the executor.
        ``timeout_seconds`` bounds each API call, so an unreachable API server holds a
        cycle for at most that long per call."""
        for key, template in (
            ("deployment_name", deployment_name),
            ("config_map_name", config_map_name),
        ):
            if template.count("{service}") != 1:
                raise ValueError(f"{key} must contain '{{service}}' once, got {template!r}")
        self.namespace = namespace
        self._deployment = deployment_name
        self._config_map = config_map_name
        self._timeout = timeout_seconds
        if apps_api is None or core_api is None:
            built_apps, built_core = load_apis(kubeconfig, in_cluster=in_cluster)
            apps_api = apps_api or built_apps
            core_api = core_api or built_core
        self.apps = apps_api
        self.core = core_api
        self._config_seen: dict[str, tuple[str, int]] = {}  # service -> (resourceVersion, number)

    def services(self) -> tuple[ServiceState, ...]:
        """Every service of the namespace as it is now, sorted by name."""
        ns = self.namespace
        deployments = self._list(f"list deployments in {ns}", self.apps.list_namespaced_deployment)
        pods = self._list(f"list pods in {ns}", self.core.list_namespaced_pod)
        config_maps = self._list(f"list configmaps in {ns}", self.core.list_namespaced_config_map)
        versions = {cm.metadata.name: str(cm.metadata.resource_version or "") for cm in config_maps}
        out = []
        for d in deployments:
            service = _service_of(self._deployment, d.metadata.name)
            if service is None:
                continue
            mine = [
                p
                for p in pods
                if _selects(d.spec.selector, p.metadata.labels or {})
                and (p.status is None or p.status.phase not in ("Succeeded", "Failed"))
            ]
            names = tuple(sorted(p.metadata.name for p in mine))
            unready = frozenset(p.metadata.name for p in mine if not _ready(p))
            containers = d.spec.template.spec.containers if d.spec.template.spec else []
            marks = {**(d.metadata.labels or {}), **(d.metadata.annotations or {})}
            out.append(
                ServiceState(
                    name=service,
                    instances=names,
                    unready=unready,
                    version=image_tag(containers[0].image or "") if containers else "",
                    config_revision=self._config_number(
                        service, versions.get(self._config_map.format(service=service))
                    ),
                    criticality=_fraction(marks.get(CRITICALITY_KEY), 0.5),
                    external=str(marks.get(EXTERNAL_KEY, "")).lower() == "true",
                    role=str(marks.get(ROLE_KEY, "")),
                )
            )
        return tuple(sorted(out, key=lambda s: s.name))

    def close(self) -> None:
        """Nothing to release: the client's pool closes with the process."""

    def _list(self, what: str, fn: Any) -> list[Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as TransportError

        try:
            listing = fn(self.namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            raise api_error(what, exc) from exc
        except (TransportError, OSError) as exc:
            raise TemporaryError(f"{what}: Kubernetes API unreachable: {exc}", 2.0) from exc
        if listing is None or listing.items is None:
            raise PermanentError(f"{what}: the API answered without a list")
        return list(listing.items)

    def _config_number(self, service: str, resource_version: str | None) -> int:
        if resource_version is None:
            self._config_seen.pop(service, None)
            return 0
        seen, number = self._config_seen.get(service, ("", 0))
        if resource_version != seen:
            number += 1
            self._config_seen[service] = (resource_version, number)
        return number


def image_tag(image: str) -> str:
    """The tag of a container image reference.

    >>> image_tag("registry:5000/shop/orders:1.4.2")
    '1.4.2'
    >>> image_tag("orders@sha256:abc")
    'sha256:abc'
    >>> image_tag("orders")
    'latest'
    """
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return digest or "latest"


def _service_of(template: str, deployment: str) -> str | None:
    prefix, _, suffix = template.partition("{service}")
    if len(deployment) <= len(prefix) + len(suffix):
        return None
    if not (deployment.startswith(prefix) and deployment.endswith(suffix)):
        return None
    return deployment[len(prefix) : len(deployment) - len(suffix)]


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status is None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a ``V1LabelSelector`` selects ``labels`` (an empty selector selects nothing,
    as a Deployment's selector must not be empty)."""
    if selector is None:
        return False
    match = selector.match_labels or {}
    expressions = selector.match_expressions or []
    if not match and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for e in expressions:
        values = set(e.values or [])
        present = e.key in labels
        ok = {
            "In": present and labels.get(e.key) in values,
            "NotIn": not present or labels.get(e.key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(e.operator, False)
        if not ok:
            return False
    return True
