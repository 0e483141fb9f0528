"""The ConfigMap's selfheal.yaml is a valid configuration for the Deployment that mounts it,
and the probes ask the API's real, open health endpoints."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.cli.main import cli
from selfheal.core.config import Config, exposure_problem, parse_config_text
from selfheal.store.state import Store, open_store

from .manifests import ROOT, container, kustomization, one


def config() -> Config:
    text = one("ConfigMap")["data"]["selfheal.yaml"]
    return parse_config_text(text, "deploy/kubernetes/configmap.yaml")


def test_the_config_loads_and_drives_the_kubernetes_executor() -> None:
    cfg = config()
    assert cfg.executor.type == "kubernetes"
    assert cfg.executor.kubernetes.kubeconfig is None  # the in-cluster service account
    assert cfg.executor.kubernetes.namespace == kustomization()["namespace"]
    # it watches through the cluster's Prometheus (no scraping of its own), and takes
    # Alertmanager's notifications with a token of the role the receiver needs
    assert cfg.metrics.source == "prometheus" and cfg.metrics.prometheus.url
    assert cfg.alertmanager.enabled
    assert [t.role for t in cfg.api.tokens if t.name == "alertmanager"] == ["operator"]


def test_the_container_runs_the_loop_on_the_mounted_config() -> None:
    c = container()
    assert [*c["command"], *c["args"][:2]] == ["selfheal", "run", "--config"]
    path = PurePosixPath(c["args"][2])
    (mount,) = [m for m in c["volumeMounts"] if PurePosixPath(m["mountPath"]) == path.parent]
    pod = one("Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    assert path.name in one("ConfigMap")["data"]
    # the image's `selfheal` is the package's console script, and `run` takes --config
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[c["command"][0]] == "selfheal.cli.main:main"
    helped = CliRunner().invoke(cli, ["run", "--help"])
    assert helped.exit_code == 0 and "--config" in helped.output


def test_the_store_lives_on_a_volume() -> None:
    url = config().store.url
    assert url.startswith("sqlite:////")
    directory = PurePosixPath(url.removeprefix("sqlite:///")).parent
    pod = one("Deployment")["spec"]["template"]["spec"]
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert any(
        PurePosixPath(m["mountPath"]) == directory and m["name"] in empty
        for m in container()["volumeMounts"]
    )


def test_the_api_listens_on_the_container_port_with_tokens_from_a_secret() -> None:
    api = config().api
    (port,) = container()["ports"]
    assert api.port == port["containerPort"]
    assert exposure_problem(api.host, bool(api.tokens)) is None  # exposed, so tokens
    env = {e["name"]: e for e in container()["env"]}
    assert api.tokens and all(t.token is None for t in api.tokens)  # no token in the config
    for token in api.tokens:
        assert token.token_env is not None
        assert env[token.token_env]["valueFrom"]["secretKeyRef"]["name"] == "selfheal-api-tokens"
    service = one("Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"].items() <= (
        one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


class Engine:
    def __init__(self) -> None:
        self.ready = (False, "no cycle finished yet")

    def status(self) -> dict[str, Any]:
        return {}

    def pause(self, by: str = "") -> None: ...

    def resume(self, by: str = "") -> None: ...

    def readiness(self) -> tuple[bool, str]:
        return self.ready

    def service_graph(self) -> list[tuple[str, str]]:
        return []


@pytest.fixture
def api(tmp_path: Any) -> Iterator[tuple[str, Engine, Store]]:
    store = open_store(f"sqlite:///{tmp_path}/probe.db")
    engine = Engine()
    tokens = TokenBook({"viewer": ("viewer", "viewer-token-0123456789")})
    server = Server(create_app(engine, store, CollectorRegistry(), tokens)).start()
    yield server.url, engine, store
    server.stop()
    store.close()


def test_the_probes_ask_open_endpoints_that_tell_the_truth(api: tuple[str, Engine, Store]) -> None:
    url, engine, _ = api
    c = container()
    live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
    assert live["port"] == ready["port"] == c["ports"][0]["name"]
    app = create_app(engine, None, CollectorRegistry())  # type: ignore[arg-type]
    routes = {getattr(r, "path", None) for r in app.routes}
    assert {live["path"], ready["path"]} <= routes
    with httpx.Client(base_url=url, timeout=10) as client:  # no token: a kubelet has none
        assert client.get("/incidents").status_code == 401  # tokens are configured
        assert client.get(live["path"]).status_code == 200
        assert client.get(ready["path"]).status_code == 503  # no cycle yet: not ready
        engine.ready = (True, "4 cycles, the last began 1.0 s ago")
        assert client.get(ready["path"]).status_code == 200
