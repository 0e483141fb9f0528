"""The OpenTelemetry preset of the indicator table (``indicators_preset: opentelemetry``).

The same indicators as the shipped (native) table, over the metrics of
OpenTelemetry's HTTP semantic conventions as they reach Prometheus: the histograms
``http.server.request.duration`` and ``http.client.request.duration`` (unit ``s``),
exposed as ``http_server_request_duration_seconds_{bucket,count,sum}`` and
``http_client_request_duration_seconds_{bucket,count,sum}``, their attributes with
dots turned into underscores. Only the served-request and call indicators change;
``up``, the process metrics (``process_cpu_seconds_total``,
``process_resident_memory_bytes``), the pool gauges and the business counters are
read under the same names as in the native table, named by the same labels below.

What the expressions read:

- served requests: ``http_server_request_duration_seconds_count`` (one per request),
  probe routes left out by ``http_route``; a failed request is
  ``http_response_status_code`` 5xx (the server's ``error_type`` is not needed);
- calls: ``http_client_request_duration_seconds_count``; a failed call is
  ``http_response_status_code`` 5xx, or a call with no status code and an
  ``error_type`` (``timeout``, a connection failure: no response came back). A
  client's ``error_type`` is also set on a 4xx, which is the callee answering and
  not a failure here (nor in the native table);
- the callee (``target``): the first DNS label of ``server_address``
  (``billing``, ``billing.prod.svc.cluster.local`` and ``billing:8080``'s host all
  name ``billing``), which is the callee's service name wherever services reach
  each other by their service's DNS name (Kubernetes Services, compose). A call
  whose ``server_address`` is an IP address names no service: it is left out of
  the call-edge indicators and the call graph. Configure an ``indicators:`` entry
  to map addresses otherwise;
- the service: ``service_name`` when the series has it (the exporters'
  resource-to-label conversion of ``service.name``), else ``job`` with any
  ``<service.namespace>/`` prefix removed (the OpenTelemetry → Prometheus
  compatibility rules put ``service.name`` there), else the ``service`` label the
  scrape target gives. Where Prometheus scrapes an SDK's exporter itself, ``job``
  is the scrape job: give ``service_name`` (or relabel ``job``) there;
- the instance: ``service_instance_id`` when present, else the scraper's
  ``instance_id`` target label, else ``instance`` (``service.instance.id`` under
  the compatibility rules, ``host:port`` on a plain scrape).

The expressions are standard PromQL, so the table can be sent to a Prometheus
server as it is.
"""

from __future__ import annotations

from selfheal.monitoring.indicator_table import PROBES, Convention, IndicatorTable, build_table

SERVER = "http_server_request_duration_seconds"
CLIENT = "http_client_request_duration_seconds"
HOST = "[a-zA-Z][a-zA-Z0-9-]*"
"""A DNS label that can be a service name (an IP address's first part cannot)."""
CALLEE = f'server_address=~"{HOST}([.].*)?"'
SERVED = f'http_route!~"{PROBES}"'


def _relabel(vector: str, dst: str, replacement: str, src: str, regex: str) -> str:
    return f'label_replace({vector}, "{dst}", "{replacement}", "{src}", "{regex}")'


def named(vector: str, by: str) -> str:
    """``vector`` with ``service`` and ``instance`` from the OpenTelemetry labels.

    Each step replaces the label only where its source label is set, so the later
    steps win: ``service_name`` over ``job``, ``service_instance_id`` over
    ``instance_id``. ``by`` is not consulted: the service is renamed in every
    grouping."""
    v = _relabel(vector, "service", "$2", "job", "(.*/)?(.+)")
    v = _relabel(v, "service", "$1", "service_name", "(.+)")
    v = _relabel(v, "instance", "$1", "instance_id", "(.+)")
    return _relabel(v, "instance", "$1", "service_instance_id", "(.+)")


def call_named(vector: str, by: str) -> str:
    """``named`` plus ``target``: the first DNS label of ``server_address``."""
    return _relabel(named(vector, by), "target", "$1", "server_address", f"({HOST})([.].*)?")


OPENTELEMETRY = Convention(
    name="opentelemetry",
    served=f"{SERVER}_count{{{SERVED}}}",
    served_failed=(f'{SERVER}_count{{{SERVED},http_response_status_code=~"5.."}}',),
    served_buckets=f"{SERVER}_bucket{{{SERVED}}}",
    calls=f"{CLIENT}_count{{{CALLEE}}}",
    calls_failed=(
        f'{CLIENT}_count{{{CALLEE},http_response_status_code=~"5.."}}',
        f'{CLIENT}_count{{{CALLEE},http_response_status_code="",error_type!=""}}',
    ),
    call_buckets=f"{CLIENT}_bucket{{{CALLEE}}}",
    call_count=f"{CLIENT}_count{{{CALLEE}}}",
    named=named,
    call_named=call_named,
)

OPENTELEMETRY_TABLE: IndicatorTable = build_table(OPENTELEMETRY)
