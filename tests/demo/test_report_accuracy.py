"""The report's P95 latency and P95 time to first token, from histogram buckets, against the exact P95 of the same
requests: the demo's workload (`make demo`: the simulator's demo profile at the tutorial's latencies, 240 requests),
replayed in process so every duration the histograms were given is also kept (``benchmarks/p95_accuracy.py``).

What the design guarantees, and so what is asserted:
- the report's P95 lies in the bucket that holds the exact nearest-rank P95 (Prometheus' interpolation inside the
  bucket where the 95th rank falls), for every model and the total;
- so wherever that bucket is a rung of the 10% ladder (where the tutorial's P95s fall), within 10% of it.
How the buckets shipped before the series cut would have done on the same requests is printed, not asserted: on any
one run they may do better or worse on one model (benchmarks/RESULTS.md has the mean and worst errors of both over
50 seeded runs).
"""

from __future__ import annotations

import pytest
from benchmarks.p95_accuracy import FIGURES, lines, measure

from otel_holysheep.demo import run as demo
from otel_holysheep.demo import workload
from otel_holysheep.report.model import TOTAL_LABEL

pytestmark = pytest.mark.slow

LIMIT = 0.10


def test_report_p95s_on_the_demo_workload_are_within_10_percent() -> None:
    rows = measure(demo.SEED)
    table = lines(rows)
    outside = [r for r in rows if not r.in_ladder]
    # Only a machine far slower than the tutorial's gateway (every latency stretched more than 1.5x) puts a P95
    # outside the ladder: the bucket bound still holds there, the 10% one does not, and the run says so.
    table += [f"  outside the ladder {FIGURES[r.figure][2]}: {r.figure} {r.row} exact {r.exact:.3f} s" for r in outside]
    print("\n".join(table))
    assert {r.row for r in rows} == {*workload.MODELS, TOTAL_LABEL}
    counts = {(r.figure, r.row): r.count for r in rows}
    assert all(counts["latency", m] >= 55 and counts["ttft", m] >= 25 for m in workload.MODELS), counts
    not_in_bucket = [r for r in rows if not r.bucket[0] < r.reported <= r.bucket[1]]
    assert not not_in_bucket, "\n".join([*table, *(f"  not in {r.bucket}: {r}" for r in not_in_bucket)])
    over = [r for r in rows if r.in_ladder and r.error > LIMIT]
    assert not over, "\n".join([*table, *(f"  over 10%: {r}" for r in over)])
    assert len(outside) < len(rows) / 2, "most P95s fell outside the ladders: the workload no longer fits the buckets"
