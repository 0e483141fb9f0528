"""The Kubernetes executor against the official client's API objects, mocked at
their boundary (no cluster is available to the tests); returned objects are the
client's real models."""

from __future__ import annotations

import socket
from unittest.mock import MagicMock

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind
from selfheal.execution.kubernetes import RESTARTED_AT, REVISION, KubernetesExecutor
from selfheal.execution.runner import ActionRunner

K = ActionKind
NS = "shop"
UID = "uid-cart"


def template(image: str, hash_: str) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "cart", "pod-template-hash": hash_}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="cart", image=image)]),
    )


def deployment(revision: str = "3") -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="cart", uid=UID, annotations={REVISION: revision}),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "cart"}),
            template=template("cart:v3", "ccc"),
        ),
    )


def replica_set(rev: int, image: str, owner: str = UID) -> client.V1ReplicaSet:
    return client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(
            name=f"cart-{rev}",
            annotations={REVISION: str(rev)},
            owner_references=[
                client.V1OwnerReference(
                    api_version="apps/v1", kind="Deployment", name="cart", uid=owner
                )
            ],
        ),
        spec=client.V1ReplicaSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": "cart"}),
            template=template(image, f"h{rev}"),
        ),
    )


@pytest.fixture
def apis() -> tuple[MagicMock, MagicMock]:
    apps = MagicMock(spec=client.AppsV1Api)
    core = MagicMock(spec=client.CoreV1Api)
    apps.read_namespaced_deployment.return_value = deployment()
    apps.read_namespaced_deployment_scale.return_value = client.V1Scale(
        spec=client.V1ScaleSpec(replicas=2)
    )
    apps.list_namespaced_replica_set.return_value = client.V1ReplicaSetList(
        items=[
            replica_set(1, "cart:v1"),
            replica_set(2, "cart:v2"),
            replica_set(3, "cart:v3"),
            replica_set(9, "other:v9", owner="uid-other"),
        ]
    )
    core.read_namespaced_pod.return_value = client.V1Pod(
        metadata=client.V1ObjectMeta(name="cart-abc", labels={"app": "cart"})
    )
    core.read_namespaced_config_map.return_value = client.V1ConfigMap(
        data={"pool_size": "16", "mode": "fast"}
    )
    return apps, core


@pytest.fixture
def ex(apis) -> KubernetesExecutor:
    apps, core = apis
    return KubernetesExecutor(NS, apps_api=apps, core_api=core, clock=FakeClock(1_700_000_000.0))


def test_rollout_restart_patches_the_template_annotation(ex, apis) -> None:
    apps, _ = apis
    ex.execute(Action(K.RESTART_SERVICE, "cart"))
    name, ns, body = apps.patch_namespaced_deployment.call_args.args
    assert (name, ns) == ("cart", NS)
    stamp = body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp.startswith("2023-11-14T22:13:20")


def test_scale_uses_the_subresource_and_undo_scales_back(ex, apis) -> None:
    apps, _ = apis
    action = Action(K.SCALE_SERVICE, "cart", params={"delta": 2})
    assert ex.validate(action).ok
    undo = ex.snapshot(action)
    ex.execute(action)
    assert apps.patch_namespaced_deployment_scale.call_args.args == (
        "cart",
        NS,
        {"spec": {"replicas": 4}},
    )
    ex.rollback(action, undo)
    assert apps.patch_namespaced_deployment_scale.call_args.args[2] == {"spec": {"replicas": 2}}


def test_scale_to_the_current_count_is_skipped(ex) -> None:
    assert ex.validate(Action(K.SCALE_SERVICE, "cart", params={"replicas": 2})).skip


def test_configmap_patch_and_undo_removes_added_keys(ex, apis) -> None:
    _, core = apis
    action = Action(
        K.UPDATE_CONFIGURATION, "cart", params={"multiply": {"pool_size": 2}, "patch": {"x": 1}}
    )
    undo = ex.snapshot(action)
    ex.execute(action)
    name, ns, body = core.patch_namespaced_config_map.call_args.args
    assert (name, ns) == ("cart-config", NS)
    assert body == {"data": {"pool_size": "32", "mode": "fast", "x": "1"}}
    core.read_namespaced_config_map.return_value = client.V1ConfigMap(data=body["data"])
    ex.rollback(action, undo)
    assert core.patch_namespaced_config_map.call_args.args[2] == {
        "data": {"x": None, "pool_size": "16", "mode": "fast"}
    }


def test_configmap_restore_is_refused_with_a_reason(ex) -> None:
    v = ex.validate(Action(K.UPDATE_CONFIGURATION, "cart", params={"restore": "previous"}))
    assert not v.ok and "no revision history" in v.reason


def test_rollout_undo_copies_the_previous_replicaset_template(ex, apis) -> None:
    apps, _ = apis
    action = Action(K.ROLLBACK_DEPLOYMENT, "cart")
    assert ex.validate(action).reason == "to revision 2"
    undo = ex.snapshot(action)
    assert ex.execute(action) == "rolled cart back to revision 2"
    body = apps.patch_namespaced_deployment.call_args.args[2]
    tmpl = body["spec"]["template"]
    assert tmpl.spec.containers[0].image == "cart:v2"
    assert "pod-template-hash" not in tmpl.metadata.labels
    assert apps.list_namespaced_replica_set.call_args.kwargs == {
        "label_selector": "app=cart",
        "_request_timeout": 10.0,
    }
    ex.rollback(action, undo)
    restored = apps.patch_namespaced_deployment.call_args.args[2]["spec"]["template"]
    assert restored.spec.containers[0].image == "cart:v3"


def test_rollout_undo_to_a_named_revision_and_a_missing_one(ex) -> None:
    assert ex.validate(Action(K.ROLLBACK_DEPLOYMENT, "cart", params={"revision": 1})).ok
    v = ex.validate(Action(K.ROLLBACK_DEPLOYMENT, "cart", params={"revision": 9}))
    assert not v.ok  # revision 9 belongs to another deployment


def test_restart_container_deletes_the_pod(ex, apis) -> None:
    _, core = apis
    action = Action(K.RESTART_CONTAINER, "cart", "cart-abc")
    assert ex.validate(action).ok
    assert not ex.snapshot(action).reversible
    ex.execute(action)
    core.delete_namespaced_pod.assert_called_once_with("cart-abc", NS, _request_timeout=10.0)


def test_a_pod_of_another_deployment_is_refused(ex, apis) -> None:
    _, core = apis
    core.read_namespaced_pod.return_value = client.V1Pod(
        metadata=client.V1ObjectMeta(name="x", labels={"app": "payment"})
    )
    v = ex.validate(Action(K.RESTART_CONTAINER, "cart", "x"))
    assert not v.ok and "does not belong" in v.reason


def test_drain_evicts_the_pod_through_the_eviction_api(ex, apis) -> None:
    _, core = apis
    ex.execute(Action(K.DRAIN_TRAFFIC, "cart", "cart-abc"))
    name, ns, body = core.create_namespaced_pod_eviction.call_args.args
    assert (name, ns) == ("cart-abc", NS)
    assert isinstance(body, client.V1Eviction) and body.metadata.name == "cart-abc"


def test_pdb_refusal_is_a_temporary_error(ex, apis) -> None:
    _, core = apis
    core.create_namespaced_pod_eviction.side_effect = ApiException(
        status=429, reason="Too Many Requests"
    )
    with pytest.raises(TemporaryError, match="PodDisruptionBudget"):
        ex.execute(Action(K.DRAIN_TRAFFIC, "cart", "cart-abc"))


def test_runner_retries_a_pdb_refusal_until_it_passes(ex, apis) -> None:
    _, core = apis
    core.create_namespaced_pod_eviction.side_effect = [
        ApiException(status=429, reason="Too Many Requests"),
        None,
    ]
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(Action(K.DRAIN_TRAFFIC, "cart", "cart-abc"))
    assert runner.execute(prepared) == "evicted pod cart-abc"
    assert core.create_namespaced_pod_eviction.call_count == 2


def test_node_drain_cordons_evicts_and_undo_uncordons(ex, apis) -> None:
    _, core = apis
    core.read_node.return_value = client.V1Node(spec=client.V1NodeSpec(unschedulable=False))
    ds = client.V1OwnerReference(api_version="apps/v1", kind="DaemonSet", name="d", uid="u")
    core.list_namespaced_pod.return_value = client.V1PodList(
        items=[
            client.V1Pod(metadata=client.V1ObjectMeta(name="cart-1")),
            client.V1Pod(metadata=client.V1ObjectMeta(name="agent", owner_references=[ds])),
        ]
    )
    action = Action(K.DRAIN_TRAFFIC, "cart", params={"node": "n1"})
    assert ex.validate(action).ok
    undo = ex.snapshot(action)
    assert ex.execute(action) == "cordoned n1, evicted 1 pod(s)"
    assert core.patch_node.call_args.args == ("n1", {"spec": {"unschedulable": True}})
    assert core.list_namespaced_pod.call_args.kwargs == {
        "field_selector": "spec.nodeName=n1",
        "_request_timeout": 10.0,
    }
    ex.rollback(action, undo)
    assert core.patch_node.call_args.args == ("n1", {"spec": {"unschedulable": False}})


def test_missing_deployment_is_refused_and_server_errors_are_temporary(ex, apis) -> None:
    apps, _ = apis
    apps.read_namespaced_deployment.side_effect = ApiException(status=404, reason="Not Found")
    v = ex.validate(Action(K.RESTART_SERVICE, "nope"))
    assert not v.ok and "not found" in v.reason
    apps.patch_namespaced_deployment.side_effect = ApiException(status=503, reason="Unavailable")
    with pytest.raises(TemporaryError, match="HTTP 503"):
        ex.execute(Action(K.RESTART_SERVICE, "cart"))
    apps.patch_namespaced_deployment.side_effect = ApiException(status=403, reason="Forbidden")
    with pytest.raises(PermanentError, match="HTTP 403"):
        ex.execute(Action(K.RESTART_SERVICE, "cart"))


@pytest.mark.parametrize("kind", [K.CLEAR_CACHE, K.FAILOVER])
def test_non_kubernetes_actions_are_refused_with_a_hint(ex, kind) -> None:
    v = ex.validate(Action(kind, "cart", params={"dependency": "bank"}))
    assert not v.ok and "webhook" in v.reason


def test_an_unreachable_api_server_is_temporary_and_bounded() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = client.Configuration(host=f"http://127.0.0.1:{port}")
    conf.retries = 0
    api = client.ApiClient(conf)
    ex = KubernetesExecutor(
        NS, apps_api=client.AppsV1Api(api), core_api=client.CoreV1Api(api), timeout_seconds=1.0
    )
    try:
        with pytest.raises(
            TemporaryError, match="read deployment shop/cart: Kubernetes API unreachable"
        ):
            ex.snapshot(Action(K.ROLLBACK_DEPLOYMENT, "cart"))
    finally:
        api.close()
