"""A long fuzz campaign against every parser of outside input and every API operation.

Each parser target of ``tests/fuzz/targets.py`` (Prometheus exposition, OTLP protobuf
and JSON, log lines as the loop reads them, configuration, playbooks, scenarios) runs
under atheris (coverage-guided, libFuzzer) from its seeds in a process of its own, for
its share of the inputs; libFuzzer stops at a finding (an escaped exception, a broken
promise, an input over ``--timeout`` seconds = a hang, over 2 GB = out of memory), so
the campaign keeps the input that did it and restarts the target on the remaining
runs. Then the live API (real HTTP, real SQLite) takes generated requests for every
operation from its own OpenAPI schema (schemathesis strategies under hypothesis), with
an admin token and with none: every answer must be documented, never a 500, and a
refused request must change nothing stored.

    python bench/fuzz_campaign.py [--runs 1000000] [--api-examples 500] [--timeout 10]

Prints one JSON line: ``{"inputs", "crashes", "hangs", "ooms", "targets": {...},
"api": {...}, "seconds", "findings_dir"}``. Run it under the heavy-work lock.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

#: share of ``--runs`` per target: the fast decoders take more, the YAML-heavy ones less
SHARES = {
    "otlp": 0.40,
    "exposition": 0.15,
    "scenario": 0.15,
    "config": 0.12,
    "logs": 0.10,
    "playbook": 0.08,
}
MAX_RESTARTS = 20  # a target that keeps finding things is reported, not looped on forever


def fuzz_target(name: str, runs: int, timeout: int, findings: Path) -> dict[str, Any]:
    """Run ``name`` for ``runs`` inputs, restarting after each finding."""
    driver = ROOT / "tests" / "fuzz" / "atheris_main.py"
    corpus = Path(tempfile.mkdtemp(prefix=f"selfheal-corpus-{name}-"))
    workdir = findings / name
    workdir.mkdir(parents=True, exist_ok=True)
    done, restarts, began = 0, 0, time.monotonic()
    while done < runs and restarts <= MAX_RESTARTS:
        if not any(corpus.iterdir()):
            from fuzz.seeds import seeds  # the driver seeds an empty corpus; do it here once

            for i, seed in enumerate(seeds(name)):
                (corpus / f"seed-{i}").write_bytes(seed)
        run = subprocess.run(
            [
                sys.executable,
                str(driver),
                name,
                str(corpus),
                f"-runs={runs - done}",
                f"-timeout={timeout}",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
        )
        counted = [
            int(n) for n in re.findall(r"stat::number_of_executed_units:\s*(\d+)", run.stderr)
        ]
        done += counted[-1] if counted else 0
        if run.returncode == 0:
            break
        restarts += 1
        (workdir / f"log-{restarts}.txt").write_text(run.stderr[-20000:])
    artifacts = sorted(p.name for p in workdir.iterdir() if not p.name.startswith("log-"))
    return {
        "inputs": done,
        "crashes": sum(a.startswith("crash-") for a in artifacts),
        "hangs": sum(a.startswith(("timeout-", "slow-unit-")) for a in artifacts),
        "ooms": sum(a.startswith("oom-") for a in artifacts),
        "corpus": sum(1 for _ in corpus.iterdir()),
        "seconds": round(time.monotonic() - began, 1),
    }


def fuzz_api(examples: int) -> dict[str, Any]:
    """Generated requests for every operation of the live API, with and without a token."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    from api.api_server import TOKENS, bearer, serve

    CHECKS = [
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]

    from selfheal.api.auth import TokenBook
    from selfheal.core.types import Incident, IncidentStatus
    from selfheal.store.state import open_store

    directory = Path(tempfile.mkdtemp(prefix="selfheal-api-fuzz-"))
    store = open_store(f"sqlite:///{directory}/api.db")
    store.incidents.save(
        Incident("inc-1", 10.0, (), frozenset({"cart"}), status=IncidentStatus.RESOLVED)
    )
    for i in range(200):
        store.approvals.request({"kind": "Failover"}, f"inc-{i}", 0.8, expires_at=4e9)
    server = serve(store, TokenBook(TOKENS))
    counts: dict[str, int] = {
        "requests": 0,
        "server_errors": 0,
        "schema_violations": 0,
        "partial_writes": 0,
    }
    examples_seen: list[str] = []
    began = time.monotonic()

    def stored() -> tuple[object, ...]:
        last = store.audit.last()
        approvals = tuple((a.id, a.status) for a in store.approvals.list(limit=1000))
        return store.audit.count(), last.hash if last else None, store.control.state(), approvals

    def record(case: Any, response: Any, before: tuple[object, ...]) -> None:
        counts["requests"] += 1
        where = f"{case.method} {case.formatted_path}"
        if response.status_code >= 500:
            counts["server_errors"] += 1
            examples_seen.append(f"{where} {response.status_code}")
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # schemathesis raises a failure group
            counts["schema_violations"] += 1
            examples_seen.append(f"{where}: {' '.join(str(exc).split())[:200]}")
        if response.status_code >= 400 and stored() != before:
            counts["partial_writes"] += 1
            examples_seen.append(f"{where} wrote on refusal")

    def fuzz_operation(
        operation: Any, headers: dict[str, str], n: int, url: str, report: Any
    ) -> None:
        @settings(
            max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def one(case: Any) -> None:
            before = stored()
            report(case, case.call(base_url=url, headers=headers), before)

        one()

    try:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            for headers in (bearer("admin"), {}):
                fuzz_operation(operation, headers, examples, server.url, record)
    finally:
        server.stop()
        store.close()
    return {**counts, "examples": examples_seen[:20], "seconds": round(time.monotonic() - began, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="parser inputs in all")
    parser.add_argument("--api-examples", type=int, default=500, help="per operation and token")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--only", nargs="*", default=sorted(SHARES), help="targets to run")
    args = parser.parse_args()

    findings = Path(tempfile.mkdtemp(prefix="selfheal-fuzz-findings-"))
    began = time.monotonic()
    targets: dict[str, Any] = {}
    for name in args.only:
        targets[name] = fuzz_target(name, int(args.runs * SHARES[name]), args.timeout, findings)
        print(f"{name}: {json.dumps(targets[name])}", file=sys.stderr, flush=True)
    api = fuzz_api(args.api_examples) if args.api_examples > 0 else {"requests": 0}
    print(f"api: {json.dumps(api)}", file=sys.stderr, flush=True)
    summary = {
        "inputs": sum(t["inputs"] for t in targets.values()) + api["requests"],
        "crashes": sum(t["crashes"] for t in targets.values()) + api.get("server_errors", 0),
        "hangs": sum(t["hangs"] for t in targets.values()),
        "ooms": sum(t["ooms"] for t in targets.values()),
        "partial_writes": api.get("partial_writes", 0),
        "schema_violations": api.get("schema_violations", 0),
        "targets": targets,
        "api": api,
        "seconds": round(time.monotonic() - began, 1),
        "findings_dir": str(findings),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
