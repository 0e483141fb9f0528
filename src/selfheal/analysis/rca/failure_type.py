"""Failure type of a cause, read from the evidence that singled it out.

Called by the ranker for each cause. Rules, in order (the seed design's failure
classes; the indicator names are those of ``MetricSeries.indicator`` and of the
loop's live indicators):

- CPU / memory / disk / thread-pool indicators moved        -> ResourceExhaustion
- network bytes / delay / timeouts or latency without errors -> NetworkFailure
- new or surging error log templates, error ratio, trace errors, or a code path
  the service stopped taking (trace patterns)                -> CodeBug
- configuration words in new log templates ("config", "property") -> ConfigurationError
- the cause is a leaf the service graph marks as external    -> ExternalDependency
- integrity words ("checksum", "corrupt", "constraint")      -> DataCorruption

Anything else is Unknown. Pure function, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selfheal.core.types import FailureType

_RESOURCE = re.compile(r"\b(cpu|memory|mem|disk|thread|heap|oom|fd|saturation)", re.I)
_NETWORK = re.compile(r"(network|latency|delay|timeout|timed out|connection|rtt|p9\d)", re.I)
_ERROR = re.compile(r"(error|exception|fail|success_ratio|status|5\d\d|traceback)", re.I)
_CONFIG = re.compile(r"(config|property|properties|setting|parameter|invalid value)", re.I)
_DATA = re.compile(r"(checksum|corrupt|constraint|integrity|malformed|deserial)", re.I)
_EXTERNAL = re.compile(r"(external|remote|third.party|bank|aws::|_remote\b|\.com)", re.I)


def infer_failure_type(
    service: str, indicator: str | None, evidence: Iterable[str], is_leaf: bool = False
) -> FailureType:
    """Classify a cause from its main indicator and its evidence lines."""
    evidence = tuple(evidence)
    text = " ".join(evidence)
    ind = indicator or ""
    if _DATA.search(text):
        return FailureType.DATA_CORRUPTION
    # A resource that is used *less* (CPU falls when requests return early) is a
    # consequence, not exhaustion.
    resource_moved = any(
        line.startswith("metric ") and _RESOURCE.search(line.split(" ", 2)[1]) and " up " in line
        for line in evidence
    )
    if _RESOURCE.search(ind) or resource_moved:
        return FailureType.RESOURCE_EXHAUSTION
    if "log " in text and _CONFIG.search(text):
        return FailureType.CONFIGURATION_ERROR
    if is_leaf and _EXTERNAL.search(service):
        return FailureType.EXTERNAL_DEPENDENCY
    if _ERROR.search(ind) or re.search(r"\blog\b|trace errors|trace pattern", text):
        return FailureType.CODE_BUG
    if _NETWORK.search(ind) or _NETWORK.search(text):
        return FailureType.NETWORK_FAILURE
    return FailureType.UNKNOWN
