"""What-if repricing on demo-shaped data (the demo's four models, cached input, finish reasons): the repriced costs are
the price book applied by hand to the observed tokens, each candidate shows its own observed numbers, and the
recommendation respects the bounds."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest
from report_fixture_gen import (
    EXPECTED_OBSERVED,
    WHATIF,
    WHATIF_FIXTURE,
    generate_whatif_exposition,
)
from report_helpers import Handler, Seen, metrics_page

from otel_holysheep._pricing import PriceBook
from otel_holysheep.report import whatif_data
from otel_holysheep.report.cli import main
from otel_holysheep.report.sources import parse_exposition
from otel_holysheep.report.whatif import ASSUMPTION, Bounds, WhatIf

Serve = Callable[[Handler], tuple[str, Seen]]
# prices.json, written out again by hand: USD per 1M tokens (input, cached input, output)
BY_HAND = {
    "gpt-4.1": (2.00, 0.50, 8.00),
    "claude-sonnet-4": (3.00, 0.30, 15.00),
    "gemini-2.5-flash": (0.30, 0.03, 2.50),
    "deepseek-v3.2": (0.28, 0.028, 0.42),
}


def _without_target_info(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("target_info")]


def what_if(bounds: Bounds | None = None, *, finishes: bool = True, by: tuple[str, ...] = ("model",)) -> WhatIf:
    text = generate_whatif_exposition(finishes=finishes)
    observed = whatif_data.from_samples(parse_exposition(text, url="fixture"), url="fixture", by=by)
    return observed.what_if(PriceBook.default(), bounds or Bounds())


def tokens_by_hand(model: str) -> tuple[int, int, int]:
    """(prompt, cached, completion) fed into the fixture for ``model``."""
    row = next(r for r in WHATIF if r[0] == model)
    _, ok, _, _, _, prompt, completion, cached, _ = row
    return ok * prompt, ok * cached, ok * completion


def priced_by_hand(tokens: tuple[int, int, int], candidate: str) -> float:
    prompt, cached, completion = tokens
    inp, cached_price, out = BY_HAND[candidate]
    return ((prompt - cached) * inp + cached * cached_price + completion * out) / 1e6


def test_committed_fixture_matches_the_exporter() -> None:
    """If the exporter output changes, regenerate: .venv/bin/python tests/report/report_fixture_gen.py"""
    assert _without_target_info(generate_whatif_exposition()) == _without_target_info(WHATIF_FIXTURE.read_text())


def test_repriced_costs_are_the_price_book_applied_by_hand() -> None:
    result = what_if()
    assert {g.name for g in result.groups} == set(BY_HAND)
    for group in result.groups:
        tokens = tokens_by_hand(group.name)
        assert (group.tokens.input, group.tokens.cached, group.tokens.output) == tokens
        assert {c.model for c in group.candidates} == set(BY_HAND)
        for candidate in group.candidates:
            assert candidate.cost_usd == pytest.approx(priced_by_hand(tokens, candidate.model), rel=1e-12)
            assert candidate.is_current == (candidate.model == group.name)
        # the observed cost is what the instrumentation recorded at the model's own price: repricing there saves 0
        assert group.observed_cost_usd == pytest.approx(priced_by_hand(tokens, group.name), rel=1e-9)
        current = next(c for c in group.candidates if c.is_current)
        assert current.saving_usd == pytest.approx(0.0, abs=1e-12)
        costs = [c.cost_usd for c in group.candidates]
        assert costs == sorted(costs)
        for candidate in group.candidates:
            assert candidate.saving_usd == pytest.approx(group.observed_cost_usd - candidate.cost_usd, rel=1e-9)
            assert candidate.saving_pct == pytest.approx(candidate.saving_usd / group.observed_cost_usd * 100)


def test_each_candidate_shows_its_own_observed_numbers() -> None:
    for group in what_if().groups:
        for candidate in group.candidates:
            seen = candidate.observed
            got = (seen.p95_latency_s, seen.p95_ttft_s, seen.success_rate_pct, seen.truncation_rate_pct)
            want = EXPECTED_OBSERVED[candidate.model]
            for have, expected in zip(got, want, strict=True):
                assert have == (None if expected is None else pytest.approx(expected, rel=1e-9)), candidate


@pytest.mark.parametrize(
    ("bounds", "recommended"),
    [
        (Bounds(), "deepseek-v3.2"),
        (Bounds(max_p95_s=2.0, min_success_pct=99.0), "deepseek-v3.2"),
        (Bounds(max_p95_s=0.5), "gemini-2.5-flash"),
        (Bounds(max_ttft_s=0.5), "gemini-2.5-flash"),  # deepseek-v3.2 has no streams: TTFT not observed
        (Bounds(max_truncation_pct=4.0), "claude-sonnet-4"),  # deepseek-v3.2's truncation is not observed
        (Bounds(max_p95_s=2.0, max_truncation_pct=5.0), "gpt-4.1"),
        (Bounds(max_p95_s=0.5, min_success_pct=99.0), None),
    ],
)
def test_recommendation_respects_the_bounds(bounds: Bounds, recommended: str | None) -> None:
    for group in what_if(bounds).groups:
        best = group.recommended
        assert (best.model if best else None) == recommended, group.name
        for candidate in group.candidates:
            p95, ttft, success, truncation = EXPECTED_OBSERVED[candidate.model]
            fits = all(
                (
                    bounds.max_p95_s is None or (p95 is not None and p95 <= bounds.max_p95_s),
                    bounds.max_ttft_s is None or (ttft is not None and ttft <= bounds.max_ttft_s),
                    bounds.min_success_pct is None or (success is not None and success >= bounds.min_success_pct),
                    bounds.max_truncation_pct is None
                    or (truncation is not None and truncation <= bounds.max_truncation_pct),
                )
            )
            assert candidate.within_bounds == fits, candidate
            if fits and best is not None:
                assert candidate.cost_usd >= best.cost_usd


def test_truncation_not_observed_without_the_finish_reason_series() -> None:
    result = what_if(Bounds(max_truncation_pct=50.0), finishes=False)
    assert all(c.observed.truncation_rate_pct is None for g in result.groups for c in g.candidates)
    assert all(g.recommended is None for g in result.groups)
    assert any("holysheep_finishes_total" in note and "not observed" in note for note in result.notes)


def test_grouped_by_attribution_labels() -> None:
    """Per route or team the token mix spans models; candidates keep their per-model numbers."""
    result = what_if(by=("model",))
    assert result.total_saving_usd == pytest.approx(sum(g.recommended.saving_usd for g in result.groups))
    grouped = what_if(by=("team",))  # no team label in this data: one group of everything
    ((group),) = grouped.groups
    assert group.labels == ("(none)",)
    totals = [sum(tokens_by_hand(m)[i] for m in BY_HAND) for i in range(3)]
    assert (group.tokens.input, group.tokens.cached, group.tokens.output) == tuple(totals)
    assert not any(c.is_current for c in group.candidates)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_cli_every_format_states_the_assumption(serve: Serve, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    argv = ["--metrics", f"{url}/metrics", "--what-if", "--max-p95", "2s", "--min-success", "99%", "--format", fmt]
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    if fmt == "json":
        doc = json.loads(out)
        assert doc["assumption"] == ASSUMPTION
        assert doc["bounds"]["max_p95_latency_s"] == 2.0 and doc["bounds"]["min_success_pct"] == 99.0
        assert {g["model"]: g["recommended"] for g in doc["groups"]} == dict.fromkeys(BY_HAND, "deepseek-v3.2")
        gpt = next(g for g in doc["groups"] if g["model"] == "gpt-4.1")
        for c in gpt["candidates"]:
            assert c["cost_usd"] == pytest.approx(priced_by_hand(tokens_by_hand("gpt-4.1"), c["model"]), abs=1e-8)
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == 16 and {r["assumption"] for r in rows} == {ASSUMPTION}
        assert {r["model"] for r in rows if r["recommended"] == "true"} == {"deepseek-v3.2"}
        gemini = next(r for r in rows if r["model"] == "gemini-2.5-flash")
        assert gemini["within_bounds"] == "false" and gemini["out_of_bounds_because"] == "success below bound"
    else:
        assert ASSUMPTION in out
        assert "P95 latency <= 2 s, success >= 99%" in out
        assert (
            out.count("cheapest within the bounds: deepseek-v3.2")
            + out.count("Cheapest within the bounds: deepseek-v3.2")
            == 4
        )
        assert "not observed" in out  # deepseek-v3.2's TTFT and truncation


def test_cli_saving_line(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    assert main(["--metrics", url, "--what-if", "--max-p95", "0.5s"]) == 0
    out = capsys.readouterr().out
    tokens = tokens_by_hand("gpt-4.1")
    saving = priced_by_hand(tokens, "gpt-4.1") - priced_by_hand(tokens, "gemini-2.5-flash")
    pct = saving / priced_by_hand(tokens, "gpt-4.1") * 100
    assert f"cheapest within the bounds: gemini-2.5-flash, saves {saving:,.4f} USD ({pct:.1f}%)" in out
    # claude-sonnet-4's traffic moved to gemini; gemini's own stays
    assert "cheapest within the bounds: gemini-2.5-flash, the model already used" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-p95", "2s"], "apply to --what-if"),
        (["--what-if", "--max-p95", "fast"], "invalid --max-p95 'fast'"),
        (["--what-if", "--max-p95", "0s"], "above zero"),
        (["--what-if", "--min-success", "120%"], "invalid --min-success '120%'"),
        (["--what-if", "--prices", "/nonexistent/prices.yaml"], "price file: /nonexistent/prices.yaml: cannot read"),
    ],
)
def test_cli_bad_bounds(serve: Serve, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    try:
        code = main(["--metrics", url, *argv])
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_price_file_overrides_a_candidate(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    prices = tmp_path / "prices.yaml"  # type: ignore[operator]
    prices.write_text("models:\n  deepseek-v3.2: {input: 10.0, output: 10.0}\n")
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    assert main(["--metrics", url, "--what-if", "--prices", str(prices), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gpt = next(g for g in doc["groups"] if g["model"] == "gpt-4.1")
    deepseek = next(c for c in gpt["candidates"] if c["model"] == "deepseek-v3.2")
    prompt, _, completion = tokens_by_hand("gpt-4.1")
    assert deepseek["cost_usd"] == pytest.approx((prompt * 10.0 + completion * 10.0) / 1e6)
    assert doc["price_book"].endswith("+custom")
