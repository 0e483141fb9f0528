"""OTLP/HTTP trace receiver: where the services' spans arrive.

Services export spans to ``<endpoint>`` = ``http://host:port/v1/traces`` with
the standard OpenTelemetry OTLP/HTTP exporter; the loop starts one
:class:`OtlpReceiver` (a real HTTP server on a background thread, ``port=0``
picks a free port) and reads the call graph from the
:class:`~selfheal.monitoring.service_graph.ServiceGraph` it feeds.

Protocol (https://opentelemetry.io/docs/specs/otlp/#otlphttp):

- ``POST /v1/traces`` with ``Content-Type: application/x-protobuf`` (binary
  ``ExportTraceServiceRequest``) or ``application/json`` (OTLP JSON: lowerCamelCase
  keys, trace and span ids as hex strings, enums as numbers);
  ``Content-Encoding: gzip`` is accepted;
- 200 with an ``ExportTraceServiceResponse`` in the request's encoding on
  success; 400 for a body that does not decode (with a message), 404 for other
  paths, 405 for other methods, 413 for bodies over ``max_body_bytes``, 415 for
  other content types.

Spans are reduced to :class:`~selfheal.core.telemetry.SpanRecord` (service from
the resource attribute ``service.name``, instance from ``service.instance.id``, the
peer from the first of ``PEER_ATTRIBUTES`` a span carries; trace ids are not kept:
spans are paired by span id) and handed to the graph and to an optional callback
(the loop's span window).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from selfheal.core.telemetry import SpanRecord
from selfheal.monitoring.service_graph import ServiceGraph

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
# Span attributes that name the callee of a client span, most specific first.
PEER_ATTRIBUTES = ("peer.service", "server.address", "net.peer.name")


class OtlpDecodeError(ValueError):
    """The body is not an OTLP trace export request."""


def _any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def _hex_ids_to_base64(document: Any) -> None:
    """OTLP JSON writes ids as hex; protobuf's JSON mapping wants base64."""
    for resource_spans in document.get("resourceSpans", document.get("resource_spans", [])) or []:
        scopes = resource_spans.get("scopeSpans", resource_spans.get("scope_spans", [])) or []
        for scope in scopes:
            for span in scope.get("spans", []) or []:
                items = [span, *(span.get("links", []) or [])]
                for item in items:
                    for name in _ID_FIELDS:
                        raw = item.get(name)
                        if isinstance(raw, str) and raw:
                            try:
                                item[name] = base64.b64encode(bytes.fromhex(raw)).decode()
                            except ValueError:
                                raise OtlpDecodeError(f"span {name} {raw!r} is not hex") from None


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Decompress, refusing output over ``max_bytes`` (a small gzip bomb must not
    exhaust memory)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip container
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpDecodeError(f"bad gzip body: {exc}") from None
    if len(out) > max_bytes:
        raise OtlpDecodeError(f"gzip body inflates beyond {max_bytes} bytes")
    if not inflater.eof:
        raise OtlpDecodeError("bad gzip body: truncated")
    return out


def decode_request(
    body: bytes, content_type: str, content_encoding: str = "", max_bytes: int = 64 * 1024 * 1024
) -> ExportTraceServiceRequest:
    """Decode an export request body; OtlpDecodeError with the reason."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, max_bytes)
    elif encoding not in ("", "identity"):
        raise OtlpDecodeError(f"unsupported Content-Encoding {content_encoding!r}")
    request = ExportTraceServiceRequest()
    if content_type == _PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpDecodeError(f"bad protobuf body: {exc}") from None
        return request
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpDecodeError(f"bad JSON body: {exc}") from None
    except RecursionError:  # found by fuzzing: "[[[[…" escaped as an exception
        raise OtlpDecodeError("bad JSON body: nested too deeply") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("OTLP JSON body must be an object")
    try:
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, AttributeError, TypeError) as exc:
        raise OtlpDecodeError(f"bad OTLP JSON: {exc}") from None
    except RecursionError:
        raise OtlpDecodeError("bad OTLP JSON: nested too deeply") from None
    return request


def spans_of(request: ExportTraceServiceRequest) -> list[SpanRecord]:
    """The request's spans as records, with their resource's service and instance and
    the peer their attributes name."""
    out: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name") or "unknown_service")
        instance = resource.get("service.instance.id")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                start, end = int(span.start_time_unix_nano), int(span.end_time_unix_nano)
                out.append(
                    SpanRecord(
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        service=service,
                        operation=span.name,
                        timestamp=start / 1e9,
                        kind=int(span.kind),
                        duration_seconds=max(0, end - start) / 1e9,
                        is_error=span.status.code == Status.STATUS_CODE_ERROR,
                        instance=str(instance) if instance is not None else None,
                        peer=_peer(span.attributes),
                    )
                )
    return out


def _peer(attributes: Iterable[KeyValue]) -> str | None:
    """The first of ``PEER_ATTRIBUTES`` the span carries as a non-empty string (only
    those are converted: converting every attribute was most of the decoding cost)."""
    found: dict[str, str] = {}
    for kv in attributes:
        if kv.key in PEER_ATTRIBUTES:
            value = _any_value(kv.value)
            if isinstance(value, str) and value:
                found[kv.key] = value
    return next((found[name] for name in PEER_ATTRIBUTES if name in found), None)


class OtlpReceiver:
    """OTLP/HTTP trace endpoint on a background thread."""

    def __init__(
        self,
        graph: ServiceGraph,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_spans: Callable[[list[SpanRecord]], object] | None = None,
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.graph = graph
        self._host = host
        self._port = port
        self._on_spans = on_spans
        self.max_body_bytes = max_body_bytes
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests_total = 0
        self.rejected_total = 0
        self.spans_total = 0

    @property
    def endpoint(self) -> str:
        """``http://host:port/v1/traces`` (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the OTLP receiver is not started")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}{TRACES_PATH}"

    def handle(
        self, body: bytes, content_type: str, content_encoding: str
    ) -> tuple[int, bytes, str]:
        """Status, body and content type of the answer to one export request."""
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in (_PROTOBUF, _JSON):
            return 415, _error(f"unsupported Content-Type {content_type!r}"), _JSON
        try:
            request = decode_request(body, media, content_encoding, self.max_body_bytes * 4)
        except OtlpDecodeError as exc:
            with self._lock:
                self.rejected_total += 1
            return 400, _error(str(exc)), _JSON
        spans = spans_of(request)
        self.graph.add_spans(spans)
        if self._on_spans is not None and spans:
            self._on_spans(spans)
        with self._lock:
            self.requests_total += 1
            self.spans_total += len(spans)
        response = ExportTraceServiceResponse()
        if media == _PROTOBUF:
            return 200, response.SerializeToString(), _PROTOBUF
        return 200, json_format.MessageToJson(response).encode(), _JSON

    def start(self) -> OtlpReceiver:
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != TRACES_PATH:
                    self._drain()
                    self._send(404, _error(f"no such path {self.path}"), _JSON)
                    return
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunked = self._read_chunked()
                    if chunked is None:
                        self.close_connection = True
                        self._send(413, _error("body too large or badly chunked"), _JSON)
                        return
                    body = chunked
                else:
                    raw_length = self.headers.get("Content-Length")
                    if raw_length is None:
                        self.close_connection = True
                        self._send(411, _error("Content-Length required"), _JSON)
                        return
                    length = int(raw_length) if raw_length.strip().isdigit() else -1
                    if length < 0 or length > receiver.max_body_bytes:
                        self.close_connection = True
                        self._send(413, _error("body too large or without a valid length"), _JSON)
                        return
                    body = self.rfile.read(length)
                try:
                    status, payload, ctype = receiver.handle(
                        body,
                        self.headers.get("Content-Type", ""),
                        self.headers.get("Content-Encoding", ""),
                    )
                except Exception:  # a bug here must not kill the server thread
                    log.exception("OTLP request failed")
                    status, payload, ctype = 500, _error("internal error"), _JSON
                self._send(status, payload, ctype)

            def _read_chunked(self) -> bytes | None:
                parts: list[bytes] = []
                size = 0
                while True:
                    line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                    try:
                        n = int(line, 16)
                    except ValueError:
                        return None
                    if n == 0:
                        while self.rfile.readline(1024).strip():  # trailer headers
                            pass
                        return b"".join(parts)
                    size += n
                    if size > receiver.max_body_bytes:
                        return None
                    parts.append(self.rfile.read(n))
                    self.rfile.readline(1024)  # CRLF after the chunk

            def _drain(self) -> None:
                length = self.headers.get("Content-Length")
                if length and length.isdigit() and int(length) <= receiver.max_body_bytes:
                    self.rfile.read(int(length))
                else:
                    self.close_connection = True

            def do_GET(self) -> None:
                self._send(405, _error("use POST"), _JSON)

            do_PUT = do_DELETE = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("otlp: " + format, *args)

        server = ThreadingHTTPServer((self._host, self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="selfheal-otlp",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
