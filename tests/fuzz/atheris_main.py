"""Run one fuzz target under atheris (coverage-guided, libFuzzer), as its own process.

``python tests/fuzz/atheris_main.py TARGET [libFuzzer flags]``, e.g. ``-runs=5000
-timeout=10``. The selfheal package (and the third-party parsers it hands input
to) is instrumented for coverage before the targets are imported. libFuzzer
exits non-zero on a finding and writes the input that caused it (``crash-*``,
``timeout-*``) in the working directory; ``-runs`` and the final "Done N runs"
line say how many inputs ran. Without a corpus directory it starts from the
target's seeds (``seeds.py``) in a fresh temporary one. Used by ``test_atheris.py`` (bounded) and
``bench/fuzz_campaign.py`` (long).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

#: Modules whose branches guide the fuzzer: ours, and the pure-Python parsers we call.
INSTRUMENTED = [
    "selfheal",
    "prometheus_client.parser",
    "yaml",
    "drain3",
    "google.protobuf.json_format",
]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit("usage: atheris_main.py TARGET [libFuzzer flags]")
    name = sys.argv.pop(1)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    with atheris.instrument_imports(include=INSTRUMENTED):
        from fuzz.targets import TARGETS
    from fuzz.seeds import seeds

    target = TARGETS[name]
    if not [a for a in sys.argv[1:] if not a.startswith("-")]:  # no corpus given: the seeds
        corpus = Path(tempfile.mkdtemp(prefix=f"selfheal-fuzz-{name}-"))
        for i, seed in enumerate(seeds(name)):
            (corpus / f"seed-{i}").write_bytes(seed)
        sys.argv.append(str(corpus))
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
