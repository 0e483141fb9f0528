"""The benchmark package's public surface and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import selfheal.bench.nab as nab

NAB_API = {
    "CorpusScore", "NabFile", "Profile", "load_corpus", "load_profiles", "scaled_sigmoid",
    "score_corpus",
}  # fmt: skip

MODULES_WITH_EXAMPLES = [
    "selfheal.bench.nab.scorer",
    "selfheal.bench.nab.cv",
    "selfheal.bench.rca.labels",
]


def test_nab_public_api_is_pinned() -> None:
    assert set(nab.__all__) == NAB_API
    for name in NAB_API:
        assert getattr(nab, name) is not None


@pytest.mark.parametrize("module", MODULES_WITH_EXAMPLES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
