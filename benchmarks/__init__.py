"""Overhead benchmarks of otel-holysheep against its peers: ``make bench`` (``python -m benchmarks``).

Everything runs in one process with no network: a real ``httpx.HTTPTransport`` / ``httpx2.HTTPTransport`` whose
connection pool is replaced by a fake that hands back canned ``httpcore`` responses, so the whole client stack above
the socket (client, transport, instrumentation wrappers, the OpenTelemetry SDK) runs for real. Variants of one case
are measured in interleaved rounds and compared by their medians; see ``benchmarks/RESULTS.md``.
"""
