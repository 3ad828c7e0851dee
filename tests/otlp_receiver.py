"""A loopback OTLP/HTTP metrics receiver for tests: decodes each protobuf export and keeps the newest value of every
series (cumulative temporality, the SDK's default, so the newest is the total). Nothing but 127.0.0.1, port 0."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def _value(any_value: Any) -> str:
    kind = any_value.WhichOneof("value")
    return str(getattr(any_value, kind)) if kind else ""


class OtlpReceiver:
    """``endpoint`` is the base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends ``/v1/metrics``)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.exports = 0
        self.scopes: set[tuple[str, str]] = set()
        self.resource: dict[str, str] = {}
        self._series: dict[SeriesKey, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/metrics":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver._take(request)
                reply = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _take(self, request: ExportMetricsServiceRequest) -> None:
        with self._lock:
            for rm in request.resource_metrics:
                self.resource.update({a.key: _value(a.value) for a in rm.resource.attributes})
                for sm in rm.scope_metrics:
                    self.scopes.add((sm.scope.name, sm.scope.version))
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        points = getattr(metric, kind).data_points
                        for point in points:
                            labels = tuple(sorted((a.key, _value(a.value)) for a in point.attributes))
                            if kind in ("histogram", "exponential_histogram"):
                                self._series[(f"{metric.name}#count", labels)] = float(point.count)
                                self._series[(f"{metric.name}#sum", labels)] = float(point.sum)
                            else:
                                field = point.WhichOneof("value")
                                self._series[(metric.name, labels)] = float(getattr(point, field))
            self.exports += 1
            self._lock.notify_all()

    def total(self, name: str, **labels: str) -> float:
        """Sum over the series of ``name`` (``name#count`` / ``name#sum`` for histograms) matching ``labels``."""
        with self._lock:
            return sum(
                v
                for (n, got), v in self._series.items()
                if n == name and all((k, val) in got for k, val in labels.items())
            )

    def names(self) -> set[str]:
        with self._lock:
            return {n for n, _ in self._series}

    def wait_for(self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"OTLP receiver: condition not met in {timeout:.0f}s ({self.exports} exports)")
                self._lock.wait(min(left, 0.5))

    @contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
