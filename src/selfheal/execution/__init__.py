"""Execution layer: carry out one action safely on one platform.

Called by the loop with an action the guards allowed: the ``ActionRunner``
validates and snapshots the undo (``Prepared``), executes (retrying temporary
errors) and, when the loop's verification fails, rolls back from the snapshot.
Executors: ``LocalExecutor`` (the local platform's HTTP API; the demo),
``WebhookExecutor`` (a generic signed webhook) and ``KubernetesExecutor`` (the
official client, imported lazily). The execution layer never decides what to do.
"""

from selfheal.execution.base import Executor, Undo, Validation
from selfheal.execution.kubernetes import KubernetesExecutor
from selfheal.execution.local import LocalExecutor
from selfheal.execution.runner import ActionRunner, Prepared
from selfheal.execution.webhook import WebhookExecutor, sign, verify_signature

__all__ = [
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
]
