"""``otel-holysheep report``: per-model requests, success, latency, TTFT, tokens and cost from Prometheus or /metrics.

Modules: ``model`` (rows and histogram_quantile, pure), ``queries`` (the PromQL), ``sources`` (Prometheus HTTP API and
/metrics readers), ``formats`` (table, markdown, csv, json), ``cli`` (``main(argv)``).
"""

from __future__ import annotations
