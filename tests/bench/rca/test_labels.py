"""The RCA benchmark's scorer: ground truth read apart from the inputs, AC@k and Avg@5."""

from __future__ import annotations

from pathlib import Path

from selfheal.bench.rca.labels import accuracy_at_k, read_labels


def test_accuracy_at_k() -> None:
    scores = accuracy_at_k({"a": ["x", "y"], "b": ["y", "z", "q", "r", "x"]}, {"a": "x", "b": "x"})
    assert scores["AC@1"] == 0.5
    assert scores["AC@3"] == 0.5
    assert scores["AC@5"] == 1.0
    assert scores["Avg@5"] == (0.5 + 0.5 + 0.5 + 0.5 + 1.0) / 5


def test_labels_map_each_case_to_its_root_cause_service(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text(
        "case_id,system,root_cause_service\nc1,ob,cartservice\nc2,ob,adservice\n"
    )
    assert read_labels("nezha", tmp_path) == {"c1": "cartservice", "c2": "adservice"}


def test_a_held_out_copy_without_the_label_column_has_no_labels(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text(
        "case_id,scenario,target_node\npetshop-s1-train-issue_0,s1,Site\n"
    )
    assert read_labels("petshop", tmp_path) is None
