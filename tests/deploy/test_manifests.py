"""Every manifest of deploy/kubernetes is a valid Kubernetes object, checked offline against
the API schemas that kubernetes-validate ships (strict: an unknown field is an error)."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest
import yaml
from kubernetes_validate import utils as kv

from .manifests import KUBERNETES, container, documents, kustomization, manifest_files, one

#: the oldest Kubernetes release still in upstream support when this was written, and the
#: newest the installed kubernetes-validate knows
VERSIONS = ("1.32", kv.major_minor(kv.latest_version()))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly_against_the_schemas(version: str) -> None:
    docs = documents()
    assert {d["kind"] for d in docs} >= {
        "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
        "ConfigMap", "Deployment", "Service",
    }  # fmt: skip
    for doc in docs:
        kv.validate(doc, version, strict=True)  # raises ValidationError naming the field


def test_the_validator_refuses_a_broken_deployment() -> None:
    """The check above can fail: a misspelt field and a wrong type are refused."""
    deployment = one("Deployment")
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(misspelt, VERSIONS[-1], strict=True)
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "one"
    with pytest.raises(kv.ValidationError):
        kv.validate(wrong, VERSIONS[-1], strict=True)


def test_no_manifest_pins_a_namespace() -> None:
    """The kustomization (or kubectl -n) decides where everything goes."""
    for doc in documents():
        assert "namespace" not in doc["metadata"], doc["metadata"]["name"]


def test_the_kustomization_lists_every_manifest() -> None:
    listed = kustomization()["resources"]
    assert sorted(listed) == [p.name for p in manifest_files()]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (kustomize built in)")
def test_kustomize_renders_valid_objects_into_one_namespace() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert len(docs) == len(documents())
    namespace = kustomization()["namespace"]
    for doc in docs:
        kv.validate(doc, VERSIONS[-1], strict=True)
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == namespace


def test_the_loop_runs_unprivileged_on_a_read_only_root() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    c = container()
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # every path it writes is a volume, not the root filesystem
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = {m["mountPath"] for m in c["volumeMounts"] if m["name"] in empty}
    assert writable == {"/var/lib/selfheal", "/tmp"}
    for what in ("requests", "limits"):
        assert set(c["resources"][what]) == {"cpu", "memory"}


def test_one_loop_at_a_time() -> None:
    """Without ha.enabled two loops must never act at once, not even during a rollout."""
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"


def test_the_image_runs_as_the_user_and_command_the_deployment_expects() -> None:
    """deploy/Dockerfile (not built by the tests: that needs a Docker daemon and PyPI)."""
    import json

    lines = (KUBERNETES.parent / "Dockerfile").read_text(encoding="utf-8").splitlines()
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    (cmd,) = [json.loads(line.removeprefix("CMD ")) for line in lines if line.startswith("CMD ")]
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    c = container()
    assert cmd == [*c["command"], *c["args"]]
    exposed = [line.split()[1] for line in lines if line.startswith("EXPOSE ")]
    assert exposed == [str(c["ports"][0]["containerPort"])]
