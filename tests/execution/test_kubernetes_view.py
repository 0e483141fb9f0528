"""The namespace view against the official client's API objects, mocked at their
boundary (no cluster is available to the tests); the listings are the client's
real models. One test drives a real client at a port where nothing listens."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from unittest.mock import MagicMock

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from local_server import LocalServer
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.execution.kubernetes_view import KubernetesNamespaceView, image_tag

NS = "shop"


def deployment(
    name: str,
    image: str,
    labels: dict[str, str],
    expressions: list[client.V1LabelSelectorRequirement] | None = None,
) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels=labels, match_expressions=expressions),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(name="main", image=image),
                        client.V1Container(name="sidecar", image="proxy:9.9"),
                    ]
                ),
            ),
        ),
    )


def pod(
    name: str,
    labels: dict[str, str],
    *,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            labels=labels,
            deletion_timestamp=datetime(2026, 1, 1, tzinfo=UTC) if deleting else None,
        ),
        status=client.V1PodStatus(
            phase=phase,
            conditions=[
                client.V1PodCondition(type="PodScheduled", status="True"),
                client.V1PodCondition(type="Ready", status="True" if ready else "False"),
            ],
        ),
    )


def config_map(name: str, resource_version: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, resource_version=resource_version),
        data={"pool_size": "16"},
    )


class Cluster:
    """The three listings the view reads, as the API would return them."""

    def __init__(self) -> None:
        self.apps = MagicMock(spec=client.AppsV1Api)
        self.core = MagicMock(spec=client.CoreV1Api)
        self.deployments = [
            deployment("cart", "registry:5000/shop/cart:1.4.2", {"app": "cart"}),
            deployment("payment", "shop/payment@sha256:abc", {"app": "payment"}),
        ]
        self.pods = [
            pod("cart-a", {"app": "cart", "pod-template-hash": "h1"}),
            pod("cart-b", {"app": "cart", "pod-template-hash": "h1"}, ready=False),
            pod("cart-c", {"app": "cart"}, deleting=True),
            pod("cart-old", {"app": "cart"}, phase="Failed", ready=False),  # evicted, lingering
            pod("payment-a", {"app": "payment"}),
            pod("stray", {"app": "other"}),
        ]
        self.config_maps = [config_map("cart-config", "100"), config_map("unrelated", "7")]
        self.apps.list_namespaced_deployment.side_effect = lambda ns, **kw: client.V1DeploymentList(
            items=list(self.deployments)
        )
        self.core.list_namespaced_pod.side_effect = lambda ns, **kw: client.V1PodList(
            items=list(self.pods)
        )
        self.core.list_namespaced_config_map.side_effect = lambda ns, **kw: client.V1ConfigMapList(
            items=list(self.config_maps)
        )

    def view(self, **kwargs: Any) -> KubernetesNamespaceView:
        return KubernetesNamespaceView(NS, apps_api=self.apps, core_api=self.core, **kwargs)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_deployments_become_services_and_their_pods_instances(cluster: Cluster) -> None:
    cart, payment = cluster.view().services()
    assert cart.name == "cart"
    assert cart.instances == ("cart-a", "cart-b", "cart-c")  # the Failed pod is left out
    assert cart.unready == frozenset({"cart-b", "cart-c"})  # not Ready; being deleted
    assert cart.instances_ready == 1
    assert payment.instances == ("payment-a",) and payment.unready == frozenset()


def test_version_is_the_first_containers_image_tag(cluster: Cluster) -> None:
    cart, payment = cluster.view().services()
    assert cart.version == "1.4.2"  # not the registry port, not the sidecar's tag
    assert payment.version == "sha256:abc"


@pytest.mark.parametrize(
    ("image", "tag"),
    [("cart:v3", "v3"), ("cart", "latest"), ("host:5000/cart", "latest"), ("a/b:1@sha256:f", "1")],
)
def test_image_tag(image: str, tag: str) -> None:
    assert image_tag(image) == tag


def test_config_revision_numbers_each_new_configmap_resource_version(cluster: Cluster) -> None:
    view = cluster.view()
    assert {s.name: s.config_revision for s in view.services()} == {"cart": 1, "payment": 0}
    assert view.services()[0].config_revision == 1  # same resourceVersion: same revision
    cluster.config_maps = [config_map("cart-config", "205")]
    assert view.services()[0].config_revision == 2
    cluster.config_maps = []
    assert view.services()[0].config_revision == 0  # the ConfigMap is gone


def test_every_read_is_one_bounded_list_call_in_the_namespace(cluster: Cluster) -> None:
    cluster.view(timeout_seconds=1.5).services()
    for fn in (
        cluster.apps.list_namespaced_deployment,
        cluster.core.list_namespaced_pod,
        cluster.core.list_namespaced_config_map,
    ):
        fn.assert_called_once_with(NS, _request_timeout=1.5)


def test_name_templates_map_deployments_to_services(cluster: Cluster) -> None:
    cluster.deployments = [
        deployment("cart-deploy", "cart:7", {"app": "cart"}),
        deployment("redis", "redis:7", {"app": "redis"}),  # not a service under this template
    ]
    cluster.config_maps = [config_map("cfg-cart", "3")]
    (cart,) = cluster.view(
        deployment_name="{service}-deploy", config_map_name="cfg-{service}"
    ).services()
    assert (cart.name, cart.version, cart.config_revision) == ("cart", "7", 1)


def test_a_template_without_the_placeholder_is_refused(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="deployment_name must contain"):
        cluster.view(deployment_name="cart")


def test_selector_match_expressions_are_honoured(cluster: Cluster) -> None:
    tier = client.V1LabelSelectorRequirement(key="tier", operator="In", values=["web"])
    canary = client.V1LabelSelectorRequirement(key="canary", operator="DoesNotExist")
    cluster.deployments = [deployment("cart", "cart:1", {"app": "cart"}, [tier, canary])]
    cluster.pods = [
        pod("cart-web", {"app": "cart", "tier": "web"}),
        pod("cart-db", {"app": "cart", "tier": "db"}),
        pod("cart-canary", {"app": "cart", "tier": "web", "canary": "yes"}),
    ]
    (cart,) = cluster.view().services()
    assert cart.instances == ("cart-web",)


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (503, TemporaryError, "HTTP 503"),
        (429, TemporaryError, "too many requests"),
        (403, PermanentError, "HTTP 403"),
    ],
)
def test_api_errors_carry_retryable_or_permanent(
    cluster: Cluster, status: int, error: type[Exception], words: str
) -> None:
    cluster.core.list_namespaced_pod.side_effect = ApiException(status=status, reason="nope")
    with pytest.raises(error, match=words) as caught:
        cluster.view().services()
    assert f"list pods in {NS}" in str(caught.value)


def test_an_unreachable_api_server_is_a_temporary_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = client.Configuration(host=f"http://127.0.0.1:{port}")
    conf.retries = 0
    api = client.ApiClient(conf)
    view = KubernetesNamespaceView(
        NS, apps_api=client.AppsV1Api(api), core_api=client.CoreV1Api(api), timeout_seconds=1.0
    )
    began = time.monotonic()
    with pytest.raises(TemporaryError, match="Kubernetes API unreachable"):
        view.services()
    assert time.monotonic() - began < 5.0
    api.close()


class ApiServer:
    """A real HTTP server answering the three list calls with the cluster's objects
    (serialised by the client itself), or with a set status."""

    def __init__(self, cluster: Cluster) -> None:
        serialise = client.ApiClient().sanitize_for_serialization
        self.status = 200
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                path = self.path.split("?")[0]
                if path.endswith("/deployments"):
                    body = client.V1DeploymentList(items=cluster.deployments)
                elif path.endswith("/pods"):
                    body = client.V1PodList(items=cluster.pods)
                else:
                    body = client.V1ConfigMapList(items=cluster.config_maps)
                payload = (
                    serialise(body)
                    if server.status == 200
                    else {"kind": "Status", "message": "pods is forbidden", "code": server.status}
                )
                data = json.dumps(payload).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.local = LocalServer(Handler)
        conf = client.Configuration(host=self.local.base_url)
        conf.retries = 0
        self.api = client.ApiClient(conf)

    def stop(self) -> None:
        self.api.close()
        self.local.stop()


@pytest.fixture
def api_server(cluster: Cluster) -> Iterator[ApiServer]:
    s = ApiServer(cluster)
    yield s
    s.stop()


def test_the_real_client_reads_a_namespace_over_http(api_server: ApiServer) -> None:
    view = KubernetesNamespaceView(
        NS, apps_api=client.AppsV1Api(api_server.api), core_api=client.CoreV1Api(api_server.api)
    )
    cart, payment = view.services()
    assert (cart.instances, cart.unready) == (("cart-a", "cart-b", "cart-c"), {"cart-b", "cart-c"})
    assert (cart.version, cart.config_revision) == ("1.4.2", 1)
    assert payment.version == "sha256:abc"
    assert sorted(p.split("?")[0] for p in api_server.paths) == [
        f"/api/v1/namespaces/{NS}/configmaps",
        f"/api/v1/namespaces/{NS}/pods",
        f"/apis/apps/v1/namespaces/{NS}/deployments",
    ]


def test_a_forbidden_answer_over_http_is_permanent_and_quotes_the_server(
    api_server: ApiServer,
) -> None:
    api_server.status = 403
    view = KubernetesNamespaceView(
        NS, apps_api=client.AppsV1Api(api_server.api), core_api=client.CoreV1Api(api_server.api)
    )
    with pytest.raises(PermanentError, match="HTTP 403: pods is forbidden"):
        view.services()


def test_role_criticality_and_external_come_from_annotations_or_labels(cluster: Cluster) -> None:
    cart, payment = cluster.deployments
    cart.metadata.labels = {"selfheal.io/role": "database", "selfheal.io/criticality": "0.2"}
    cart.metadata.annotations = {"selfheal.io/role": "cache"}  # the annotation wins
    payment.metadata.annotations = {
        "selfheal.io/criticality": "lots",  # not a number: the default
        "selfheal.io/external": "True",
    }
    seen_cart, seen_payment = cluster.view().services()
    assert (seen_cart.role, seen_cart.criticality, seen_cart.external) == ("cache", 0.2, False)
    assert (seen_payment.role, seen_payment.criticality, seen_payment.external) == ("", 0.5, True)
