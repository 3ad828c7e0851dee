"""Histogram bucket boundaries (bucket advice), one tuple per histogram of the instrument table.

Pure module: no OpenTelemetry imports.
"""

from __future__ import annotations

from typing import Final

# Bucket boundaries, fitted to the latencies LLM calls have (a week of gateway measurements: mean 0.6-2.1 s, P95
# 1.1-3.8 s per model; first tokens after about a third of that). Each classic bucket is one series per label set,
# so boundaries go where quantiles are read: in the "ladder" ranges below consecutive boundaries are never more
# than 10% apart (powers of 1.1 around 1.0, three significant digits), which bounds a quantile that falls there to
# within 10% of the exact (nearest-rank) value, however few requests there are. Outside them, coarse steps.
# fmt: off
DURATION_BUCKETS: Final = (
    0.1, 0.25, 0.5,
    # ladder 0.685 .. 6.55 s: where request P95s of chat models fall
    0.685, 0.753, 0.828, 0.91, 1.0, 1.1, 1.21, 1.33, 1.46, 1.6, 1.76, 1.93, 2.12, 2.33, 2.56, 2.81, 3.09, 3.39,
    3.72, 4.09, 4.49, 4.93, 5.42, 5.96, 6.55,
    10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)
TTFT_BUCKETS: Final = (
    0.05, 0.1,
    # ladder 0.184 .. 2.56 s: where time-to-first-token P95s fall
    0.184, 0.202, 0.222, 0.244, 0.268, 0.294, 0.323, 0.355, 0.39, 0.428, 0.47, 0.516, 0.567, 0.623, 0.685, 0.753,
    0.828, 0.91, 1.0, 1.1, 1.21, 1.33, 1.46, 1.6, 1.76, 1.93, 2.12, 2.33, 2.56,
    3.5, 5.0, 10.0, 30.0, 60.0,
)
# fmt: on
DURATION_LADDER: Final = (0.685, 6.55)
TTFT_LADDER: Final = (0.184, 2.56)
# Streams only: connection and gateway queueing before the stream starts.
HEADERS_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
# Read as a median (the dashboard's P50); chat models stream 20-200 tokens per second.
TOKENS_PER_SECOND_BUCKETS: Final = (10.0, 25.0, 50.0, 100.0, 200.0, 400.0)
# retry-after-ms values are often below a second; retry-after seconds up to a minute.
RETRY_AFTER_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
# GenAI semantic conventions' advised boundaries.
GENAI_DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GENAI_TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
