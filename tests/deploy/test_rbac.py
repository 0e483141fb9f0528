"""The RBAC manifests grant exactly what the Kubernetes executor, its namespace view and the
high-availability Lease lock call: the calls in the code, the ``RBAC_RULES`` constant, the
README's table and the Role/ClusterRole all agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from selfheal.execution import kubernetes as executor_module
from selfheal.execution import kubernetes_view as view_module
from selfheal.execution.kubernetes import RBAC_RULES
from selfheal.loop import leadership_kubernetes as lease_module

from .manifests import ROOT, container, kustomization, one

Permission = tuple[str, str, str]  # (API group, resource, verb)

#: the Python client's verb → the RBAC verb
VERBS = {
    "read": "get", "list": "list", "patch": "patch", "delete": "delete", "create": "create",
    "replace": "update",
}  # fmt: skip
SUBRESOURCES = ("scale", "eviction", "status", "log", "binding")
#: the client attribute → the API group it serves
GROUPS = {"apps": "apps", "core": "", "coordination": "coordination.k8s.io"}
CALL = re.compile(
    r"^(read|list|patch|delete|create|replace)_(?:namespaced_)?([a-z_]+?)(?:_for_all_namespaces)?$"
)


def _resource(snake: str) -> str:
    """``replica_set`` → ``replicasets``; ``deployment_scale`` → ``deployments/scale``."""
    for sub in SUBRESOURCES:
        if snake.endswith(f"_{sub}"):
            return f"{_resource(snake.removesuffix(f'_{sub}'))}/{sub}"
    return snake.replace("_", "") + "s"


def code_permissions() -> set[Permission]:
    """Every ``self.apps.X`` / ``self.core.X`` / ``self.coordination.X`` API call in the
    executor, its view and the Lease lock."""
    found: set[Permission] = set()
    for module in (executor_module, view_module, lease_module):
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self"
                and node.value.attr in GROUPS
            ):
                continue
            match = CALL.match(node.attr)
            assert match, f"an API call the test cannot map to RBAC: {node.attr}"
            verb, snake = match.groups()
            found.add((GROUPS[node.value.attr], _resource(snake), VERBS[verb]))
    return found


def constant_permissions() -> set[Permission]:
    return {(group, resource, verb) for group, resource, verbs in RBAC_RULES for verb in verbs}


def readme_permissions() -> set[Permission]:
    row = re.compile(
        r"^\s*\| `([a-z/]+)` \((apps|core|coordination\.k8s\.io)[^)]*\) \| ([a-z, ]+) \|"
    )
    found: set[Permission] = set()
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = row.match(line)
        if m:
            resource, group, verbs = m.groups()
            group = "" if group == "core" else group
            found |= {(group, resource, v.strip()) for v in verbs.split(",")}
    return found


def manifest_permissions(kind: str) -> set[Permission]:
    found: set[Permission] = set()
    for rule in one(kind)["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found |= {(group, resource, verb) for verb in rule["verbs"]}
    return found


def test_the_constant_is_exactly_what_the_code_calls() -> None:
    called = code_permissions()
    # the derivation sees what it must: a read, a subresource, a create on core
    assert ("apps", "deployments/scale", "patch") in called
    assert ("", "pods/eviction", "create") in called
    assert ("", "nodes", "get") in called
    assert ("coordination.k8s.io", "leases", "update") in called  # replace_namespaced_lease
    assert constant_permissions() == called


def test_the_readme_table_lists_the_same_permissions() -> None:
    assert readme_permissions() == constant_permissions()


def test_the_role_and_cluster_role_grant_exactly_those() -> None:
    namespaced = manifest_permissions("Role")
    cluster = manifest_permissions("ClusterRole")
    assert namespaced | cluster == constant_permissions()
    assert {r for _, r, _ in cluster} == {"nodes"}  # only what a Role cannot grant
    assert "nodes" not in {r for _, r, _ in namespaced}
    for rule in one("Role")["rules"] + one("ClusterRole")["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_the_bindings_give_the_roles_to_the_pods_service_account() -> None:
    account = one("ServiceAccount")["metadata"]["name"]
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    assert container()  # the Deployment has its one container
    binding = one("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
        "name": one("Role")["metadata"]["name"],
    }  # fmt: skip
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account}]
    cluster = one("ClusterRoleBinding")
    assert cluster["roleRef"]["name"] == one("ClusterRole")["metadata"]["name"]
    assert cluster["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": kustomization()["namespace"]}
    ]
