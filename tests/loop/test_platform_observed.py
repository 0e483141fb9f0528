"""``ObservedPlatformView``: a platform source merged with configured services,
change events from successive reads, and the last context kept when a read fails.
Sources: an in-memory one, and the Kubernetes namespace view over the client's
real models (the API mocked at its boundary)."""

from __future__ import annotations

import logging
from unittest.mock import MagicMock

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.platform import ChangeKind, ServiceState
from selfheal.execution.kubernetes_view import KubernetesNamespaceView
from selfheal.loop.platform import ObservedPlatformView


class Source:
    """A platform that reports what the test sets, or fails with the set error."""

    def __init__(self, *services: ServiceState) -> None:
        self.now = list(services)
        self.error: Exception | None = None
        self.closed = False

    def services(self) -> tuple[ServiceState, ...]:
        if self.error is not None:
            raise self.error
        return tuple(self.now)

    def close(self) -> None:
        self.closed = True


CART = ServiceState("cart", ("cart-a", "cart-b"), version="1.0", config_revision=1)


def test_configured_services_add_facts_and_providers_the_platform_lacks() -> None:
    bank = ServiceState("bank", external=True)
    conf_cart = ServiceState("cart", ("ignored",), criticality=0.9, dependencies={"bank": "bank"})
    view = ObservedPlatformView(Source(CART), [conf_cart, bank])
    ctx = view.context(0.0)
    cart = ctx.services["cart"]
    assert cart.instances == ("cart-a", "cart-b")  # the platform's instances win
    assert (cart.criticality, dict(cart.dependencies)) == (0.9, {"bank": "bank"})
    assert ctx.services["bank"].external
    assert {s.name for s in view.context(0.0).services.values() if s.external} == {"bank"}
    assert ctx.dependents_of("bank") == ("cart",)


def test_what_configuration_leaves_unset_the_platform_decides() -> None:
    observed = ServiceState("cart", ("cart-a",), criticality=0.8, role="cache")
    conf = ServiceState("cart", (), criticality=0.5, role="")
    view = ObservedPlatformView(Source(observed), [conf], {"cart": frozenset()})
    cart = view.context(0.0).services["cart"]
    assert (cart.criticality, cart.role) == (0.8, "cache")
    view = ObservedPlatformView(Source(observed), [conf], {"cart": frozenset({"criticality"})})
    assert view.context(0.0).services["cart"].criticality == 0.5


def test_without_a_source_the_configured_inventory_is_the_platform() -> None:
    inventory = [ServiceState("cart", ("cart-0", "cart-1"), criticality=0.7)]
    view = ObservedPlatformView(None, inventory)
    first, second = view.context(0.0), view.context(5.0)
    assert first.services["cart"].instances_total == 2
    assert second.changes == ()  # nothing to observe, so no change is invented
    assert not any(s.external for s in view.context(0.0).services.values())


def test_successive_reads_become_change_events() -> None:
    source = Source(CART)
    view = ObservedPlatformView(source)
    view.context(0.0)
    source.now = [ServiceState("cart", ("cart-a",), version="1.1", config_revision=2)]
    changes = view.context(10.0).recent_changes("cart", since=0.0)
    assert {(c.kind, c.before, c.after) for c in changes} == {
        (ChangeKind.DEPLOY, "1.0", "1.1"),
        (ChangeKind.CONFIG, "1", "2"),
        (ChangeKind.SCALE, "2", "1"),
    }


def test_a_failed_read_keeps_the_last_context_and_says_why_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Source(CART)
    view = ObservedPlatformView(source)
    before = view.context(0.0)
    source.error = TemporaryError("list pods in shop: Kubernetes API unreachable")
    with caplog.at_level(logging.WARNING, logger="selfheal.loop.platform"):
        assert view.context(1.0) is before
        assert view.context(2.0) is before
    assert view.failures_total == 2
    assert "unreachable" in view.last_error
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    source.error = None
    source.now = [ServiceState("cart", ("cart-a",), version="1.0", config_revision=1)]
    assert view.context(3.0).services["cart"].instances_total == 1
    assert view.last_error == ""


def test_a_permanent_failure_does_not_stop_the_view() -> None:
    source = Source(CART)
    view = ObservedPlatformView(source)
    source.error = PermanentError("list pods in shop: HTTP 403: forbidden")
    assert view.context(0.0).services == {}
    assert "403" in view.last_error


def test_close_closes_the_source() -> None:
    source = Source()
    ObservedPlatformView(source).close()
    assert source.closed


def _deployment(image: str) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="cart"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "cart"}),
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image)])
            ),
        ),
    )


def _pod(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "cart"}),
        status=client.V1PodStatus(
            phase="Running", conditions=[client.V1PodCondition(type="Ready", status="True")]
        ),
    )


def test_a_kubernetes_rollout_and_config_push_are_seen_and_an_outage_survived() -> None:
    apps = MagicMock(spec=client.AppsV1Api)
    core = MagicMock(spec=client.CoreV1Api)
    apps.list_namespaced_deployment.return_value = client.V1DeploymentList(
        items=[_deployment("cart:v1")]
    )
    core.list_namespaced_pod.return_value = client.V1PodList(items=[_pod("cart-1")])
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cart-config", resource_version="5"))
    core.list_namespaced_config_map.return_value = client.V1ConfigMapList(items=[cm])
    view = ObservedPlatformView(
        KubernetesNamespaceView("shop", apps_api=apps, core_api=core),
        [ServiceState("cart", criticality=0.9)],
    )
    first = view.context(0.0)
    assert first.services["cart"].criticality == 0.9
    apps.list_namespaced_deployment.return_value = client.V1DeploymentList(
        items=[_deployment("cart:v2")]
    )
    cm2 = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cart-config", resource_version="9"))
    core.list_namespaced_config_map.return_value = client.V1ConfigMapList(items=[cm2])
    second = view.context(10.0)
    assert [c.kind for c in second.recent_changes("cart", 0.0, ChangeKind.DEPLOY)] == [
        ChangeKind.DEPLOY
    ]
    assert second.recent_changes("cart", 0.0, ChangeKind.CONFIG)[0].after == "2"
    core.list_namespaced_pod.side_effect = ApiException(status=0, reason="connection refused")
    assert view.context(20.0) is second
    assert "list pods in shop" in view.last_error
