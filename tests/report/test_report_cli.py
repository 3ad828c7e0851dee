"""The CLI end to end over loopback HTTP: --metrics against a served fixture, --prometheus against a fake API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from report_fixture_gen import generate_exposition
from report_helpers import EXPOSITION_TYPE, Answer, Handler, Seen, fake_prometheus, metrics_page

from otel_holysheep.report import queries
from otel_holysheep.report.cli import main

GOLDEN = Path(__file__).parent / "golden"
Serve = Callable[[Handler], tuple[str, Seen]]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- --metrics ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "golden"), [("csv", "report.csv"), ("json", "report.json")])
def test_metrics_endpoint_matches_golden(
    serve: Serve, capsys: pytest.CaptureFixture[str], fmt: str, golden: str
) -> None:
    url, seen = serve(metrics_page())
    code, out, err = run(capsys, "--metrics", f"{url}/metrics", "--format", fmt)
    assert (code, err) == (0, "")
    assert out == (GOLDEN / golden).read_text()
    assert seen.requests == [("/metrics", {})]


def test_metrics_endpoint_serving_openmetrics(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    text = generate_exposition(openmetrics=True)
    assert text.endswith("# EOF\n")
    url, _ = serve(lambda path, params: Answer(200, "application/openmetrics-text; version=1.0.0; charset=utf-8", text))
    code, out, _ = run(capsys, "--metrics", url, "--format", "json")
    assert code == 0 and out == (GOLDEN / "report.json").read_text()


def test_metrics_endpoint_table_has_title(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page())
    code, out, _ = run(capsys, "--metrics", f"{url}/metrics")
    assert code == 0
    golden = (GOLDEN / "report.txt").read_text()
    assert out == golden.replace("http://127.0.0.1:9464/metrics", f"{url}/metrics")


def test_metrics_without_our_series(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    text = '# HELP python_info Python platform information\n# TYPE python_info gauge\npython_info{major="3"} 1.0\n'
    url, _ = serve(metrics_page(text))
    code, out, err = run(capsys, "--metrics", url)
    assert (code, out) == (1, "")
    assert err == (
        f"otel-holysheep report: {url} serves metrics, but none from otel-holysheep (holysheep_requests_total is "
        "missing): is the app running under opentelemetry-instrument with the holysheep instrumentor?\n"
    )


def test_metrics_html_page(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(200, "text/html", "<!doctype html><title>Grafana</title>"))
    code, _, err = run(capsys, "--metrics", url)
    assert code == 2
    assert err == f"otel-holysheep report: {url} answered with an HTML page, not Prometheus metrics text\n"


def test_metrics_garbage_text(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(200, "text/plain", "hello world, this is not {metrics\n"))
    code, _, err = run(capsys, "--metrics", url)
    assert code == 2 and "answered, but not with Prometheus metrics text" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_metrics_404(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(404, "text/plain", "not found"))
    code, _, err = run(capsys, "--metrics", f"{url}/nope")
    assert code == 2
    assert err == (
        f"otel-holysheep report: {url}/nope answered HTTP 404 Not Found: expected the app's Prometheus /metrics page\n"
    )


def test_metrics_unreachable(dead_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--metrics", dead_url)
    assert code == 2
    assert err == f"otel-holysheep report: cannot reach the metrics endpoint at {dead_url}: connection refused\n"


def test_metrics_host_port_without_scheme(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page())
    code, out, _ = run(capsys, "--metrics", url.removeprefix("http://"), "--format", "json")
    assert code == 0 and json.loads(out)[0]["model"] == "gpt-4.1"


def test_timeout(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(200, EXPOSITION_TYPE, "", delay=10.0))
    started = time.monotonic()
    code, _, err = run(capsys, "--metrics", url, "--timeout", "0.2")
    assert time.monotonic() - started < 5.0  # gave up at its timeout, long before the answer (a bound, not a speed)
    assert code == 2 and err == f"otel-holysheep report: cannot reach the metrics endpoint at {url}: timed out\n"


# --- --prometheus ------------------------------------------------------------------------------------------------


def _vector(**values: float | str) -> list[dict[str, object]]:
    names = {"gpt_4_1": "gpt-4.1", "deepseek_v3": "deepseek-v3", "my_finetune": "my-finetune"}
    return [{"metric": {"model": names[model]}, "value": value} for model, value in values.items()]


def canned(window: str = "7d", selector: str | None = None) -> dict[str, list[dict[str, object]]]:
    """What Prometheus would answer: increase() extrapolates, so counts are not whole numbers."""
    qs = queries.report_queries(window, selector)
    tokens = [
        {"metric": {"model": "gpt-4.1", "token_type": "prompt"}, "value": 120000.4},
        {"metric": {"model": "gpt-4.1", "token_type": "completion"}, "value": 29999.6},
        {"metric": {"model": "deepseek-v3", "token_type": "prompt"}, "value": 60000},
        {"metric": {"model": "deepseek-v3", "token_type": "completion"}, "value": 20000},
        {"metric": {"model": "my-finetune", "token_type": "prompt"}, "value": 1000},
        {"metric": {"model": "my-finetune", "token_type": "completion"}, "value": 500},
    ]
    return {
        qs["requests"]: _vector(gpt_4_1=50.02, deepseek_v3=29.97, my_finetune=5),
        qs["successes"]: _vector(gpt_4_1=48.02, deepseek_v3=29.97, my_finetune=4),
        qs["duration_sum"]: _vector(gpt_4_1=76.0, deepseek_v3=130.0, my_finetune=1.0),
        qs["duration_count"]: _vector(gpt_4_1=50.0, deepseek_v3=30.0, my_finetune=5),
        qs["p95_latency"]: _vector(gpt_4_1=1.9375, deepseek_v3=9.25, my_finetune=0.2425),
        qs["p95_ttft"]: _vector(gpt_4_1=1.5, deepseek_v3="NaN"),  # deepseek streamed before the window only
        qs["tokens"]: tokens,
        qs["cost"]: _vector(gpt_4_1=0.48, deepseek_v3=0.046, my_finetune=0),
        qs["unpriced_tokens"]: _vector(my_finetune=1500),
        qs["total_p95_latency"]: [{"metric": {}, "value": 9.0}],
        qs["total_p95_ttft"]: [{"metric": {}, "value": 1.5}],
        qs["substitutions"]: [],  # none here: the report looks the same as before they were counted
        qs["gateway_cost"]: [],
        qs["gateway_cost_ours"]: [],
    }


def test_prometheus_report(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, seen = serve(fake_prometheus(canned("24h", '{job="chatbot"}')))
    before = time.time()
    code, out, err = run(
        capsys, "--prometheus", url, "--window", "24h", "--selector", '{job="chatbot"}', "--format", "json"
    )
    assert (code, err) == (0, "")
    rows = {row["model"]: row for row in json.loads(out)}
    assert list(rows) == ["gpt-4.1", "deepseek-v3", "my-finetune"]
    gpt, deepseek, finetune = rows["gpt-4.1"], rows["deepseek-v3"], rows["my-finetune"]
    assert gpt["requests"] == 50 and gpt["tokens_in"] == 120000 and gpt["tokens_out"] == 30000
    assert gpt["success_rate_pct"] == pytest.approx(48.02 / 50.02 * 100, abs=1e-6)
    assert gpt["avg_latency_s"] == 1.52 and gpt["p95_latency_s"] == 1.9375 and gpt["p95_ttft_s"] == 1.5
    assert gpt["cost_usd"] == 0.48 and gpt["usd_per_1m_tokens"] == 3.2 and gpt["tokens_per_usd"] == 312500
    assert deepseek["p95_ttft_s"] is None and deepseek["usd_per_1m_tokens"] == 0.575
    assert finetune["cost_usd"] is None and finetune["success_rate_pct"] == 80.0
    # every query at the same evaluation time, "now"
    assert len(seen.requests) == len(queries.report_queries())
    times = {float(params["time"]) for _, params in seen.requests}
    assert len(times) == 1 and before - 1 <= times.pop() <= time.time() + 1
    assert {path for path, _ in seen.requests} == {"/api/v1/query"}


def test_prometheus_table_total(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(fake_prometheus(canned()))
    code, out, _ = run(capsys, "--prometheus", url + "/")
    assert code == 0
    assert out.startswith(f"otel-holysheep report: last 7d from Prometheus at {url}\n")
    total = next(line for line in out.splitlines() if line.startswith("TOTAL")).split()
    # 84.99 requests, 81.99 successes; (76+130+1)/(85) s; cost 0.48+0.046 over 150000+80000 tokens
    assert total == [
        "TOTAL",
        "85",
        "96.5",
        "2.435",
        "9.000",
        "1.500",
        "181,000",
        "50,500",
        "0.5260",
        "2.2870",
        "437,262",
    ]


def with_substitutions_and_gateway_costs() -> dict[str, list[dict[str, object]]]:
    answers = canned()
    qs = queries.report_queries()
    answers[qs["substitutions"]] = [
        {"metric": {"model": "gpt-4.1", "served_model": "claude-sonnet-4"}, "value": 5.01},
        {"metric": {"model": "deepseek-v3", "served_model": "deepseek-v3.2-exp"}, "value": 12},
    ]
    answers[qs["gateway_cost"]] = _vector(gpt_4_1=0.40, my_finetune=0.01)
    answers[qs["gateway_cost_ours"]] = _vector(gpt_4_1=0.42)  # my-finetune has no price: no cost of ours
    return answers


def test_prometheus_report_shows_substitutions_and_gateway_drift(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = serve(fake_prometheus(with_substitutions_and_gateway_costs()))
    code, out, _ = run(capsys, "--prometheus", url)
    assert code == 0
    lines = out.splitlines()
    assert lines[2].split("  ")[-3:] == ["GATEWAY COST (USD)", "OURS (USD)", "DRIFT (%)"]
    gpt = next(line for line in lines if line.startswith("gpt-4.1")).split()
    assert gpt[-3:] == ["0.4000", "0.4200", "+5.0"]  # (0.42 - 0.40) / 0.40
    finetune = next(line for line in lines if line.startswith("my-finetune")).split()
    assert finetune[-3:] == ["0.0100", "-", "-"]
    deepseek = next(line for line in lines if line.startswith("deepseek-v3")).split()
    assert deepseek[-3:] == ["-", "-", "-"]  # the gateway reported no cost for it
    total = next(line for line in lines if line.startswith("TOTAL")).split()
    assert total[-3:] == ["0.4100", "0.4200", "+2.4"]
    assert lines[-3:] == [
        "Served by another model than requested (priced as the model that served them):",
        "  deepseek-v3 -> deepseek-v3.2-exp: 12 responses (40.0% of deepseek-v3's requests)",
        "  gpt-4.1 -> claude-sonnet-4: 5 responses (10.0% of gpt-4.1's requests)",
    ]
    code, out, _ = run(capsys, "--prometheus", url, "--format", "json")
    rows = {row["model"]: row for row in json.loads(out)}
    assert rows["gpt-4.1"]["served_by"] == {"claude-sonnet-4": 5}
    assert rows["my-finetune"]["served_by"] == {}
    assert (rows["gpt-4.1"]["gateway_cost_usd"], rows["gpt-4.1"]["gateway_drift_pct"]) == (0.4, 5.0)
    code, out, _ = run(capsys, "--prometheus", url, "--format", "markdown")
    assert "| Gateway cost (USD) | Ours (USD) | Drift (%) |" in out
    assert out.endswith("\n- gpt-4.1 -> claude-sonnet-4: 5 responses (10.0% of gpt-4.1's requests)\n")
    code, out, _ = run(capsys, "--prometheus", url, "--format", "csv")
    assert out.splitlines()[0].endswith(",gateway_cost_usd,gateway_cost_ours_usd,gateway_drift_pct")


def test_prometheus_csv(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(fake_prometheus(canned()))
    code, out, _ = run(capsys, "--prometheus", url, "--format", "csv")
    assert code == 0
    assert out.splitlines()[3] == "my-finetune,5,80.0,0.200,0.242,-,1000,500,n/a,n/a,n/a"


def test_prometheus_empty_window(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(fake_prometheus({promql: [] for promql in queries.report_queries("7d").values()}))
    code, out, err = run(capsys, "--prometheus", url)
    assert (code, out) == (1, "")
    assert err == f"otel-holysheep report: no otel-holysheep requests at {url} in the last 7d\n"


def test_prometheus_all_zero_is_empty_too(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    answers: dict[str, list[dict[str, object]]] = {promql: [] for promql in queries.report_queries("30m").values()}
    answers[queries.report_queries("30m")["requests"]] = _vector(gpt_4_1=0)
    url, _ = serve(fake_prometheus(answers))
    code, _, err = run(capsys, "--prometheus", url, "--window", "30m")
    assert code == 1 and err.endswith("no otel-holysheep requests at " + url + " in the last 30m\n")


def test_prometheus_unreachable(dead_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--prometheus", dead_url)
    assert (code, out) == (2, "")
    assert err == f"otel-holysheep report: cannot reach Prometheus at {dead_url}: connection refused\n"


def test_prometheus_404(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(404, "text/plain", "404 page not found"))
    code, _, err = run(capsys, "--prometheus", url + "/prom")
    assert code == 2
    assert err == (
        f"otel-holysheep report: Prometheus at {url}/prom answered HTTP 404 Not Found for {url}/prom/api/v1/query: "
        "is this the Prometheus server's base URL?\n"
    )


def test_prometheus_html_page(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(200, "text/html; charset=utf-8", "<html><body>Grafana</body></html>"))
    code, _, err = run(capsys, "--prometheus", url)
    assert code == 2
    assert err == (
        f"otel-holysheep report: {url} answered, but not like a Prometheus HTTP API (an HTML page from "
        f"{url}/api/v1/query): is this the Prometheus server's base URL?\n"
    )


def test_prometheus_json_but_not_prometheus(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(lambda path, params: Answer(200, "application/json", '{"hello": "world"}'))
    code, _, err = run(capsys, "--prometheus", url)
    assert code == 2 and "not like a Prometheus HTTP API (JSON without a vector result" in err


def test_prometheus_rejects_query(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(fake_prometheus({}))  # every query answered with a Prometheus-style 400
    code, _, err = run(capsys, "--prometheus", url)
    assert code == 2
    assert err.startswith(f"otel-holysheep report: Prometheus at {url} rejected the query ")
    assert "(bad_data: unexpected query: " in err and err.count("\n") == 1


def test_bad_window_fails_before_any_request(dead_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--prometheus", dead_url, "--window", "7days")
    assert code == 2
    assert err == "otel-holysheep report: invalid --window '7days': use a Prometheus duration such as 30m, 24h or 7d\n"


def test_bad_selector(dead_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--prometheus", dead_url, "--selector", "{job=x}")
    assert code == 2 and "invalid --selector" in err


def test_print_queries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--prometheus", "http://prom:9090", "--window", "24h", "--print-queries")
    assert code == 0
    assert "requests: sum by (model) (increase(holysheep_requests_total[24h]))\n" in out
    assert len(out.splitlines()) == len(queries.report_queries())


# --- argument errors (argparse exits 2) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--prometheus", "http://x", "--format", "yaml"],
        [],
        ["--prometheus", "http://x", "--metrics", "http://y"],
        ["--metrics", "http://y", "--window", "7d"],
        ["--metrics", "http://y", "--selector", '{job="x"}'],
        ["--metrics", "http://y", "--timeout", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: otel-holysheep report" in capsys.readouterr().err


def test_invalid_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--metrics", "ftp://example.com/metrics")
    assert code == 2 and "invalid URL" in err


def test_python_dash_m(serve: Serve) -> None:
    url, _ = serve(metrics_page())
    done = subprocess.run(
        [sys.executable, "-m", "otel_holysheep.report", "--metrics", url, "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (GOLDEN / "report.csv").read_text()
