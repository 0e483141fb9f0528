"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser target, bounded for CI.

Each target runs in its own process from its seeds for a fixed number of inputs (or
20 seconds, whichever comes first); libFuzzer exits non-zero on a crash, an escaped
exception or an input that takes over 10 s (a hang), and writes the input that did it.
The long campaign (``bench/fuzz_campaign.py``) runs the same targets far longer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .targets import TARGETS

pytestmark = pytest.mark.slow
atheris = pytest.importorskip("atheris")

DRIVER = Path(__file__).with_name("atheris_main.py")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_survives_coverage_guided_inputs(target: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(DRIVER), target, "-runs=3000", "-max_total_time=20", "-timeout=10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))
    )
    assert run.returncode == 0 and findings == [], run.stderr[-3000:]
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done is not None and int(done.group(1)) > 0, run.stderr[-2000:]
