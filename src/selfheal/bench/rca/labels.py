"""Ground truth of the labelled RCA datasets, read only to score a ranking.

Kept apart from the readers on purpose: nothing here is passed to the ranker.
Held-out copies come without the label columns; then ``read_labels`` returns
``None`` and the benchmark says no score can be computed. The campaign dataset keeps
its labels in files of their own (``labels.csv`` beside each ``cases.csv``), read here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from selfheal.bench.rca import campaign

LABEL_COLUMN = {"nezha": "root_cause_service", "petshop": "root_cause_node"}


def read_campaign_labels(data_dir: Path) -> dict[str, dict[str, str]] | None:
    """``case_id -> label row`` (``campaign.LABEL_COLUMNS``) over every recording at or
    below ``data_dir``, or ``None`` when no recording has a ``labels.csv``."""
    found: dict[str, dict[str, str]] | None = None
    for recording in campaign.recordings(data_dir):
        path = recording / campaign.LABELS_FILE
        if not path.exists():
            continue
        found = found if found is not None else {}
        prefix = campaign.case_prefix(data_dir, recording)
        for row in campaign.read_rows(path, campaign.LABEL_COLUMNS):
            found[prefix + row["case_id"]] = row
    return found


def read_labels(dataset: str, data_dir: Path) -> dict[str, str] | None:
    """``case_id -> root-cause service``, or ``None`` when the labels are absent."""
    if dataset == "campaign":
        rows = read_campaign_labels(data_dir)
        return None if rows is None else {c: r["service"] for c, r in rows.items()}
    column = LABEL_COLUMN[dataset]
    frame = pd.read_csv(data_dir / "cases.csv")
    if column not in frame.columns or frame[column].isna().all():
        return None
    return {str(c): str(v) for c, v in zip(frame["case_id"], frame[column], strict=True)}


def accuracy_at_k(
    rankings: Mapping[str, Sequence[str]], labels: Mapping[str, str], ks: Sequence[int] = (1, 3, 5)
) -> dict[str, float]:
    """AC@k (share of cases whose true cause is in the top k) and Avg@5 (mean AC@1..5).

    >>> accuracy_at_k({"a": ["x", "y"], "b": ["y", "x"]}, {"a": "x", "b": "x"})
    {'AC@1': 0.5, 'AC@3': 1.0, 'AC@5': 1.0, 'Avg@5': 0.9}
    """
    cases = [c for c in rankings if c in labels]
    if not cases:
        return {}

    def ac(k: int) -> float:
        return sum(labels[c] in list(rankings[c])[:k] for c in cases) / len(cases)

    out = {f"AC@{k}": ac(k) for k in ks}
    out["Avg@5"] = sum(ac(k) for k in range(1, 6)) / 5.0
    return out
