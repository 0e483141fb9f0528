"""Log template mining: many log lines, few templates.

:class:`selfheal.monitoring.logs.LogMonitor` sends every log message through a
:class:`TemplateMiner` per service. Mining uses Drain (He, Zhu, Zheng, Lyu,
"Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017) as
implemented by the ``drain3`` package, in memory (no persistence). Obvious
variables — IPs, UUIDs, hex ids, numbers — are masked before mining, so that
``order 123 placed`` and ``order 124 placed`` are one template from the first
line on, and a template that is new after the learning period is a meaningful
signal (a new kind of error), not noise.

>>> miner = TemplateMiner()
>>> miner.add("connect to 10.0.0.7:5432 failed after 30 ms").template
'connect to <IP>:<NUM> failed after <NUM> ms'
>>> miner.add("connect to 10.0.0.8:5432 failed after 12 ms").is_new
False
"""

from __future__ import annotations

from dataclasses import dataclass

from drain3 import TemplateMiner as _Drain
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

_MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])", "IP"),
    (r"(?<![\w])0x[0-9a-fA-F]+(?![\w])", "HEX"),
    (r"(?<![\w])[0-9a-f]{16,}(?![\w])", "HEX"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])", "NUM"),
)


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    template_id: int
    template: str
    is_new: bool  # first line of this template


class TemplateMiner:
    """Drain over one stream of messages (one service)."""

    def __init__(self, similarity: float = 0.4, depth: int = 4, max_templates: int = 1000) -> None:
        config = TemplateMinerConfig()
        config.drain_sim_th = similarity
        config.drain_depth = depth
        config.drain_max_clusters = max_templates
        config.masking_instructions = [MaskingInstruction(p, m) for p, m in _MASKS]
        config.profiling_enabled = False
        self._drain = _Drain(config=config)

    def add(self, message: str) -> TemplateMatch:
        result = self._drain.add_log_message(message)
        return TemplateMatch(
            int(result["cluster_id"]),
            str(result["template_mined"]),
            result["change_type"] == "cluster_created",
        )

    @property
    def template_count(self) -> int:
        return len(self._drain.drain.clusters)
