from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.monitoring.http_fixtures import Route, serve

from selfheal.monitoring.log_tailer import HttpLogDiscovery, LogSource, LogTailer


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def _texts(tailer: LogTailer) -> list[str]:
    return [line.text for line in tailer.poll()]


def test_starts_at_the_end_of_existing_files(tmp_path: Path) -> None:
    log = tmp_path / "cart-0.log"
    _append(log, "old 1\nold 2\n")
    with LogTailer([str(tmp_path / "*.log")]) as tailer:
        assert _texts(tailer) == []
        _append(log, "new 1\n")
        assert _texts(tailer) == ["new 1"]


def test_from_start_reads_existing_lines(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    _append(log, "one\ntwo\n")
    with LogTailer([str(log)], from_start=True) as tailer:
        assert _texts(tailer) == ["one", "two"]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.touch()
    with LogTailer([str(log)]) as tailer:
        tailer.poll()
        _append(log, '{"msg": "hal')
        assert _texts(tailer) == []
        _append(log, 'f"}\nnext\r\n')
        assert _texts(tailer) == ['{"msg": "half"}', "next"]


def test_follows_rename_rotation_without_losing_lines(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.touch()
    with LogTailer([str(tmp_path / "*.log")]) as tailer:
        tailer.poll()
        _append(log, "before 1\n")
        assert _texts(tailer) == ["before 1"]
        _append(log, "before 2\nunterminated")
        os.rename(log, tmp_path / "a.log.1")
        _append(log, "after 1\n")
        assert _texts(tailer) == ["before 2", "unterminated", "after 1"]
        _append(log, "after 2\n")
        assert _texts(tailer) == ["after 2"]


def test_follows_truncation(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    _append(log, "x" * 50 + "\n")
    with LogTailer([str(log)]) as tailer:
        tailer.poll()
        with open(log, "w", encoding="utf-8") as f:
            f.write("fresh\n")
        assert _texts(tailer) == ["fresh"]


def test_new_files_are_read_from_their_start(tmp_path: Path) -> None:
    with LogTailer([str(tmp_path / "*.log")]) as tailer:
        assert tailer.poll() == []
        _append(tmp_path / "late.log", "first line\n")
        assert _texts(tailer) == ["first line"]


def test_overlong_line_is_cut_not_buffered_forever(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.touch()
    with LogTailer([str(log)], max_line_bytes=10) as tailer:
        tailer.poll()
        _append(log, "y" * 25)
        lines = _texts(tailer)
        assert lines and all(len(line) <= 10 for line in lines)


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.touch()
    with LogTailer([str(log)]) as tailer:
        tailer.poll()
        with open(log, "ab") as f:
            f.write(b"bad \xff\xfe bytes\n")
        assert _texts(tailer) == ["bad \ufffd\ufffd bytes"]


def test_http_log_discovery_gives_sources_with_labels(tmp_path: Path) -> None:
    log = tmp_path / "cart-0.log"
    log.touch()
    doc = {"files": [{"service": "cart", "instance_id": "cart-0", "path": str(log)}]}
    with serve({"/platform/logs": Route(body=json.dumps(doc).encode())}) as srv:
        discovery = HttpLogDiscovery(f"{srv.base_url}/platform/logs")
        with LogTailer(discovery=discovery) as tailer:
            tailer.poll()
            _append(log, "plain text line\n")
            lines = tailer.poll()
    assert lines[0].source == LogSource(str(log), "cart", "cart-0")


def test_log_discovery_rejects_bad_documents() -> None:
    discovery = HttpLogDiscovery("http://127.0.0.1:1/x")
    with pytest.raises(ValueError, match=r"files\[0\]"):
        discovery.parse({"files": [{"service": "a"}]})


ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.text(alphabet="ab \n", min_size=1, max_size=12)),
        st.tuples(st.just("rotate"), st.just("")),
        st.tuples(st.just("poll"), st.just("")),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_every_line_written_after_start_is_read_once_in_order(
    tmp_path: Path, steps: list[tuple[str, str]]
) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    log = root / "app.log"
    log.touch()
    tailer = LogTailer([str(root / "*.log")])
    tailer.poll()
    expected: list[str] = []
    partial = ""
    read: list[str] = []
    rotations = 0
    rotated_since_poll = False
    for op, text in steps:
        if op == "write":
            _append(log, text)
            *complete, partial = (partial + text).split("\n")
            expected.extend(line for line in complete if line)
        elif op == "rotate" and not rotated_since_poll:  # tail -F too loses a second one
            rotations += 1
            os.rename(log, root / f"app.log.{rotations}")
            log.touch()
            if partial:
                expected.append(partial)  # the old file's last line ends with the file
            partial = ""
            rotated_since_poll = True
        elif op == "poll":
            read.extend(line.text for line in tailer.poll())
            rotated_since_poll = False
    read.extend(line.text for line in tailer.poll())
    tailer.close()
    assert read == expected
