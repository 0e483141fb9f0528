"""Every example in the product's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PRODUCT = Path(__file__).resolve().parents[1] / "src" / "selfheal"
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(PRODUCT.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PRODUCT.rglob("*.py")
    if ">>> " in p.read_text(encoding="utf-8")
)


def test_some_modules_have_examples() -> None:
    assert len(WITH_EXAMPLES) >= 20


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_the_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
