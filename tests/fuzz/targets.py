"""Fuzz targets: every parser that reads outside input, as ``bytes -> None``.

Shared by the CI-bounded fuzz tests (hypothesis, and short atheris runs through
``atheris_main.py``) and the long campaign (``bench/fuzz_campaign.py``). A target
feeds its input to the parser the loop really runs and checks the promises made
to the outside: it never raises anything but its documented error, a rejection
says why in one line, and a rejected input changes nothing (no sample kept, no
span in the graph, no configuration). An ``AssertionError`` or any other
exception escaping a target is a finding.

The first byte of some inputs picks a variant (content type, encoding); the rest
is the body.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from selfheal.analysis.rca.logs import templates_of
from selfheal.core.config import parse_config_text
from selfheal.core.errors import ConfigError
from selfheal.decision.playbook import Playbook
from selfheal.monitoring.exposition import SeriesParser, parse_exposition
from selfheal.monitoring.log_tailer import LogTailer
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.service_graph import ServiceGraph

Target = Callable[[bytes], None]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def one_line(message: str) -> None:
    assert message and "\n" not in message, f"not one clear line: {message!r}"


def exposition(data: bytes) -> None:
    """A scrape body: both parsers never raise; a rejected body yields no sample."""
    text = _text(data)
    reference = parse_exposition(text)
    assert reference.ok or not reference.samples
    if not reference.ok:
        assert reference.error is not None
        one_line(str(reference.error))
    samples, error = SeriesParser({"instance": "fuzz:1"}).parse(text)
    if error is not None:
        assert samples == [], "a rejected scrape must keep no sample"
        one_line(str(error))


_OTLP_TYPES = ("application/x-protobuf", "application/json", "text/plain")


def otlp(data: bytes) -> None:
    """An OTLP/HTTP trace export: 200 with spans taken, or 400/415 taking nothing."""
    variant, body = (data[0], data[1:]) if data else (0, b"")
    content_type = _OTLP_TYPES[variant % 3]
    encoding = "gzip" if variant & 4 else ""
    if variant & 8 and encoding:
        body = gzip.compress(body)  # a valid gzip wrapper around the fuzzed body
    graph = ServiceGraph()
    seen: list[int] = []
    receiver = OtlpReceiver(graph, on_spans=lambda spans: seen.append(len(spans)))
    status, answer, answer_type = receiver.handle(body, content_type, encoding)
    assert status in (200, 400, 415), status
    if status != 200:
        assert receiver.spans_total == 0 and graph.spans_total == 0 and seen == []
        assert answer_type == "application/json" and b'"error"' in answer
        assert b"\n" not in answer


def _log_lines(data: bytes, directory: Path) -> None:
    path = directory / "svc.log"
    path.write_bytes(b"")
    window = LogWindow(keep_seconds=300.0, max_lines=10_000)
    with LogTailer([str(directory / "*.log")], max_line_bytes=4096) as tailer:
        tailer.poll()  # starts following the (empty) file
        with path.open("ab") as f:
            f.write(data)
        window.add(tailer.poll(), 1000.0)
        with path.open("ab") as f:
            f.write(b"\n")
        window.add(tailer.poll(), 1001.0)
    records = window.between(0.0, 2000.0)
    for r in records:
        assert isinstance(r.message, str) and isinstance(r.service, str), r
        assert math.isfinite(r.timestamp), r
    half = len(records) // 2
    labelled = templates_of(records[:half], records[half:])
    assert len(labelled) == len(records)


def logs(data: bytes) -> None:
    """Bytes appended to a followed log file, read back as the RCA reads them."""
    with tempfile.TemporaryDirectory(prefix="selfheal-fuzz-") as directory:
        _log_lines(data, Path(directory))


def _config_error(run: Callable[[str], object], text: str, source: str) -> None:
    try:
        run(text)
    except ConfigError as exc:
        one_line(str(exc))
        assert str(exc).startswith(source), str(exc)


def config(data: bytes) -> None:
    """A ``selfheal run --config`` file: a Config, or one ConfigError line naming the file."""
    _config_error(lambda t: parse_config_text(t, "fuzz.yaml"), _text(data), "fuzz.yaml")


def playbook(data: bytes) -> None:
    """A playbook file (``playbooks:``): a Playbook, or one ConfigError line."""
    _config_error(lambda t: Playbook.from_yaml(t, "fuzz.yaml"), _text(data), "fuzz.yaml")


def scenario(data: bytes) -> None:
    """A demo scenario file (``--scenario-file``): steps, or one ConfigError line."""
    from selfheal.cli.demo import load_scenario

    fd, name = tempfile.mkstemp(prefix="selfheal-fuzz-", suffix=".yaml")
    try:
        os.write(fd, data)
        os.close(fd)
        _config_error(load_scenario, name, name)
    finally:
        os.unlink(name)


TARGETS: dict[str, Target] = {
    "exposition": exposition,
    "otlp": otlp,
    "logs": logs,
    "config": config,
    "playbook": playbook,
    "scenario": scenario,
}

__all__ = ["TARGETS", "Target", "one_line"]
