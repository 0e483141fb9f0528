"""A fork server for instance processes: imports the instance code once, then
forks a fresh OS process per instance on request.

Why: a cold Python start that imports prometheus-client and the OpenTelemetry
SDK costs ~0.3-0.7 s of CPU; fourteen of them on a 2-core box take many
seconds, and each holds its own copy of the same modules. Forked children
start in milliseconds and share those pages copy-on-write. Each child is still
a separate process with its own pid, port, memory and fate.

Protocol (JSON lines): the platform writes ``{"id", "argv", "output"}`` on
stdin; the zygote answers ``{"id", "pid"}`` and later ``{"exit": pid, "code"}``
when a child ends (it reaps them). On stdin EOF — the platform is gone — it
stops its children and exits. Used only by ``process.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
import traceback


def _write(obj: dict[str, object]) -> None:
    os.write(1, (json.dumps(obj) + "\n").encode())


def _child(request: dict[str, object]) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        out = os.open(str(request["output"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        from selfheal.testbed import instance
        from selfheal.testbed.process import set_process_name

        argv = request["argv"]
        assert isinstance(argv, list)
        set_process_name(
            str(argv[argv.index("--instance-id") + 1]) if "--instance-id" in argv else "shop"
        )
        instance.main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        _write({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _stop_all(children: set[int]) -> None:
    for pid in children:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    deadline = time.monotonic() + 4.0
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.05)
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while children:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        children.discard(pid)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    # Preload everything an instance needs, so children start warm.
    from selfheal.testbed import instance  # noqa: F401
    from selfheal.testbed.process import set_process_name
    from selfheal.testbed.telemetry import create_tracer  # noqa: F401

    set_process_name("shop-launcher")

    if "--otlp" in sys.argv:
        from opentelemetry.exporter.otlp.proto.http import trace_exporter

        # The exporter imports its HTTP stack on first construction; do it here, once.
        exporter = trace_exporter.OTLPSpanExporter(endpoint="http://127.0.0.1:1/v1/traces")
        exporter.shutdown()  # type: ignore[no-untyped-call]

    signal.signal(signal.SIGTERM, _terminate)
    children: set[int] = set()
    buf = b""
    try:
        while True:
            ready, _, _ = select.select([0], [], [], 0.2)
            _reap(children)
            if not ready:
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children.add(pid)
                _write({"id": request["id"], "pid": pid})
    except SystemExit:
        pass
    finally:
        _stop_all(children)


if __name__ == "__main__":
    main()
