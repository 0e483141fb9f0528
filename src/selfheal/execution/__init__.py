"""Execution layer: carry out one action safely on one platform.

Called by the loop with an action the guards allowed: the ``ActionRunner``
validates, snapshots the undo, executes (retrying temporary errors), verifies
and rolls back on failure, reporting progress and audit events. Executors:
``LocalExecutor`` (the local platform's HTTP API; the demo), ``WebhookExecutor``
(a generic signed webhook) and ``KubernetesExecutor`` (the official client,
imported lazily). The execution layer never decides what to do.
"""

from selfheal.execution.base import Executor, Undo, Validation
from selfheal.execution.kubernetes import KubernetesExecutor
from selfheal.execution.local import LocalExecutor
from selfheal.execution.runner import ActionRunner, AuditHook, RetryPolicy
from selfheal.execution.webhook import WebhookExecutor, sign, verify_signature

__all__ = [
    "ActionRunner",
    "AuditHook",
    "Executor",
    "KubernetesExecutor",
    "LocalExecutor",
    "RetryPolicy",
    "Undo",
    "Validation",
    "WebhookExecutor",
    "sign",
    "verify_signature",
]
