"""Log template mining for root-cause analysis: which services changed what they log.

Used by the log signal (``signals_log.py``). Lines are reduced to templates with
Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree",
ICWS 2017) through the ``drain3`` library, after masking ids, numbers and trace
ids. The miner is built per call and discarded: no state leaks between incidents.

A fault changes the *mix* of a service's templates: new error templates appear,
the success line after a call vanishes, one branch stops logging. Comparing each
service's template distribution before and during the incident captures all of
these (the event-pattern view of Nezha, Yu et al., ESEC/FSE 2023), independent
of traffic volume.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selfheal.core.telemetry import LogRecord

_ERRORISH = re.compile(
    r"(error|exception|fail|fatal|refused|timeout|timed out|denied|invalid|"
    r"not found|unavailable|traceback|warn)",
    re.I,
)
_MASKS = (
    (r"(?i)trace_?id[:=]\s*\S+", "<TRACE>"),
    (r"(?i)span_?id[:=]\s*\S+", "<SPAN>"),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<UUID>"),
    (r"\b[0-9a-fA-F]{16,}\b", "<HEX>"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?", "<TIME>"),
    (r"#\d+", "#<LINE>"),
    (r"-?\d+(\.\d+)?", "<NUM>"),
)
_COMPILED = tuple((re.compile(p), r) for p, r in _MASKS)
MAX_LINE_CHARS = 400


def mask(line: str) -> str:
    """Replace the variable parts of a log line so equal events look equal.

    >>> mask("12:00:01.5 ERROR Foo#12 TraceID: ab12 call 3 failed for 9f8e7d6c-1111-2222-3333-444455556666")
    '<NUM>:<NUM>:<NUM> ERROR Foo#<LINE> <TRACE> call <NUM> failed for <UUID>'
    """
    text = line[:MAX_LINE_CHARS]
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def is_errorish(template: str) -> bool:
    return bool(_ERRORISH.search(template))


def templates_of(
    before: Iterable[LogRecord], during: Iterable[LogRecord]
) -> list[tuple[int, LogRecord, str]]:
    """Every line with its period (0 before, 1 during) and its Drain template."""
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = 0.5
    config.drain_depth = 5
    miner = TemplateMiner(config=config)
    labelled: list[tuple[int, LogRecord, int]] = []  # (period, line, cluster id)
    cache: dict[str, int] = {}
    for period, records in enumerate((before, during)):
        for r in records:
            text = mask(r.message)
            cid = cache.get(text)
            if cid is None:
                cid = miner.add_log_message(text)["cluster_id"]
                cache[text] = cid
            labelled.append((period, r, cid))
    # Templates are read at the end: a cluster's template generalises as lines join it.
    names = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [(period, r, names.get(cid, str(cid))) for period, r, cid in labelled]
