"""``build`` picks the executor and the platform view by ``executor.type``; a missing
setting is a ``ConfigError`` that names its key. Building makes no network call;
where a test runs a cycle or an action, the far side is a real local socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfheal.core.config import parse_config
from selfheal.core.errors import ConfigError
from selfheal.core.types import Action, ActionKind
from selfheal.execution.kubernetes import KubernetesExecutor
from selfheal.execution.local import LocalExecutor
from selfheal.execution.runner import ActionRunner
from selfheal.execution.webhook import (
    WebhookExecutor,
)
from selfheal.loop.platform import LocalPlatformView, ObservedPlatformView
from selfheal.loop.wiring import Runtime, build
from webhook_receiver import WebhookReceiver


def _free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp_path: Path, executor: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "scrape": {"targets": [f"127.0.0.1:{_free_port()}"], "timeout_seconds": 0.2},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
        "detection": {"detector": "none"},
        "executor": executor,
        **extra,
    }


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def _executor(runtime: Runtime) -> object:
    runner = runtime.engine.runner
    assert isinstance(runner, ActionRunner)
    return runner.executor


def test_local_type_keeps_the_local_executor_and_view(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}})
    runtime = build(parse_config(cfg, "test"))
    try:
        assert isinstance(_executor(runtime), LocalExecutor)
        assert isinstance(runtime.engine.platform, LocalPlatformView)
    finally:
        runtime.close()


def test_local_type_without_control_url_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"executor\.local\.control_url"):
        build(parse_config(_config(tmp_path, {"type": "local"}), "test"))


def test_kubernetes_type_builds_from_a_kubeconfig_and_survives_an_unreachable_api(
    tmp_path: Path,
) -> None:
    port = _free_port()
    kubeconfig = _kubeconfig(tmp_path, port)
    cfg = _config(
        tmp_path,
        {
            "type": "kubernetes",
            "kubernetes": {
                "namespace": "shop",
                "kubeconfig": str(kubeconfig),
                "deployment_name": "{service}-app",
                "timeout_seconds": 1.0,
            },
        },
        platform={"services": [{"name": "bank", "external": True, "instances": ["x"]}]},
    )
    runtime = build(parse_config(cfg, "test"))
    try:
        executor = _executor(runtime)
        assert isinstance(executor, KubernetesExecutor)
        assert executor.namespace == "shop"
        assert executor.apps.api_client.configuration.host == f"http://127.0.0.1:{port}"
        view = runtime.engine.platform
        assert isinstance(view, ObservedPlatformView)
        runtime.engine.step()  # one whole cycle: the API server is not there
        assert "Kubernetes API unreachable" in view.last_error
        assert "list deployments in shop" in view.last_error
    finally:
        runtime.close()


def test_kubernetes_type_with_a_missing_kubeconfig_names_the_key(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        {"type": "kubernetes", "kubernetes": {"kubeconfig": str(tmp_path / "absent.yaml")}},
    )
    with pytest.raises(ConfigError, match=r"^executor\.kubernetes\.kubeconfig: .*absent\.yaml"):
        build(parse_config(cfg, "test"))


def test_a_name_template_without_the_placeholder_names_the_key(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"type": "kubernetes", "kubernetes": {"config_map_name": "cfg"}})
    with pytest.raises(ConfigError, match=r"executor\.kubernetes\.config_map_name"):
        parse_config(cfg, "test")


def test_webhook_type_without_url_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"webhook\.url"):
        parse_config(_config(tmp_path, {"type": "webhook"}), "test")


def test_webhook_type_with_an_unset_secret_variable_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELFHEAL_TEST_HOOK_SECRET", raising=False)
    cfg = _config(
        tmp_path,
        {
            "type": "webhook",
            "webhook": {
                "url": "http://127.0.0.1:9/hook",
                "secret_env": "SELFHEAL_TEST_HOOK_SECRET",
            },
        },
    )
    with pytest.raises(ConfigError, match=r"executor\.webhook\.secret_env: .*SELFHEAL_TEST_HOOK"):
        build(parse_config(cfg, "test"))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(b"hook-secret")
    r.script = [(200, {"detail": "restarted by the receiver"})]
    yield r
    r.stop()


def test_webhook_type_acts_through_the_receiver_and_knows_the_configured_services(
    tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFHEAL_TEST_HOOK_SECRET", "hook-secret")
    cfg = _config(
        tmp_path,
        {
            "type": "webhook",
            "webhook": {
                "url": receiver.url,
                "secret_env": "SELFHEAL_TEST_HOOK_SECRET",
                "headers": {"Authorization": "Bearer abc"},
            },
        },
        platform={
            "services": [
                {
                    "name": "cart",
                    "instances": ["cart-0", "cart-1"],
                    "criticality": 0.7,
                    "dependencies": {"bank": "bank"},
                },
                {"name": "bank", "external": True},
            ]
        },
    )
    runtime = build(parse_config(cfg, "test"))
    try:
        assert isinstance(_executor(runtime), WebhookExecutor)
        view = runtime.engine.platform
        ctx = view.context(0.0)
        assert ctx.services["cart"].instances == ("cart-0", "cart-1")
        assert ctx.services["cart"].criticality == 0.7
        assert {s.name for s in view.context(0.0).services.values() if s.external} == {"bank"}
        runner = runtime.engine.runner
        prepared = runner.prepare(Action(ActionKind.RESTART_SERVICE, "cart"))
        assert runner.execute(prepared) == "restarted by the receiver"
    finally:
        runtime.close()
    (body,) = receiver.received
    (headers,) = receiver.headers
    signed = receiver.bad_signatures == 0
    assert signed
    assert headers["Authorization"] == "Bearer abc"
    assert (body["phase"], body["action"]["target"]) == ("execute", "cart")
