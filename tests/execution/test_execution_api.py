"""Pins the execution layer's public API and checks that importing it does not
import the optional ``kubernetes`` client."""

from __future__ import annotations

import doctest
import subprocess
import sys

import selfheal.execution
from selfheal.execution import webhook

EXPECTED = {
    "ActionRunner",
    "Executor",
    "KubernetesExecutor",
    "LocalExecutor",
    "Prepared",
    "Undo",
    "Validation",
    "WebhookExecutor",
    "sign",
    "verify_signature",
}


def test_public_api_is_pinned() -> None:
    assert set(selfheal.execution.__all__) == EXPECTED


def test_importing_the_layer_leaves_the_kubernetes_client_unloaded() -> None:
    code = "import sys, selfheal.execution; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(webhook)
    assert result.attempted > 0 and result.failed == 0
