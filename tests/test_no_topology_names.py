"""The product knows no name of the testbed's services or faults.

Roles and criticality come from the platform or the configuration; a rule that
names a demo service or fault heals only the rehearsal. This test reads every
shipped topology and the testbed's fault catalogue and greps the product's
sources (code, docstrings, dashboard) for each name. Only the testbed itself and
the commands that drive it (the demo, its judge and scenario generator, the
testbed command) may name them.

Exempt, because they are ordinary words of the trade rather than names: the role
word ``cache`` (a service role the platform reports), and single-word fault
names that are also symptom words (``crash``, ``hang``, ``latency``, ``errors``).
"""

from __future__ import annotations

import re
from pathlib import Path

from selfheal.testbed.faults import FAULTS
from selfheal.testbed.topology_file import load_topology

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "src" / "selfheal"
ALLOWED = (
    PRODUCT / "testbed",
    PRODUCT / "cli" / "demo.py",
    PRODUCT / "cli" / "judge.py",
    PRODUCT / "cli" / "scenario.py",
    PRODUCT / "cli" / "testbed.py",
)
ORDINARY_WORDS = {"cache", "crash", "hang", "latency", "errors"}
SOURCES = (".py", ".html", ".js", ".css", ".yaml", ".yml")


def _names() -> set[str]:
    names = set(FAULTS)
    for path in (ROOT / "topologies").glob("*.yaml"):
        names |= {s.name for s in load_topology(path).services}
    return names - ORDINARY_WORDS


def _product_files() -> list[Path]:
    return [
        p
        for p in PRODUCT.rglob("*")
        if p.suffix in SOURCES and not any(p == a or a in p.parents for a in ALLOWED)
    ]


def test_the_shipped_topologies_give_names_to_look_for() -> None:
    names = _names()
    assert len(names) >= 20 and "memory_leak" in names


def test_no_product_file_names_a_testbed_service_or_fault() -> None:
    # a name as a whole word: "cart" and "cart-0" count, "cartography" and "payment_success" do not
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(n) for n in sorted(_names(), key=len, reverse=True))
        + r")(?!\w)",
        re.IGNORECASE,
    )
    found = []
    for path in _product_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in pattern.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {m.group(1)}")
    assert found == []
