"""Price book: defaults, aliases, cost arithmetic, override files."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from otel_holysheep._pricing import (
    NO_YAML_FIX,
    Price,
    PriceBook,
    PriceBookError,
    Tier,
    load_price_book,
    read_price_file,
)


def test_default_book_has_the_list_prices() -> None:
    book = PriceBook.default()
    assert book.version
    assert book.models["gpt-4.1"] == Price(2.00, 0.50, 8.00)
    assert book.models["claude-sonnet-4"] == Price(3.00, 0.30, 15.00, cache_write=3.75)
    assert book.models["gemini-2.5-flash"] == Price(0.30, 0.03, 2.50)
    assert book.models["deepseek-v3.2"] == Price(0.28, 0.028, 0.42)


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("GPT-4.1", "gpt-4.1"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic/claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("deepseek-chat", "deepseek-v3.2"),
        ("google/gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_aliases(name: str, base: str) -> None:
    found = PriceBook.default().lookup(name)
    assert found is not None
    assert found[0] == base


def test_unknown_model_has_no_price() -> None:
    assert PriceBook.default().lookup("mystery-model-9") is None


def test_cost_prices_cached_input_as_cached() -> None:
    price = Price(2.00, 0.50, 8.00)
    cost = PriceBook.cost(price, prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=400_000)
    assert cost.usd == pytest.approx(600_000 * 2.00 / 1e6 + 400_000 * 0.50 / 1e6 + 500_000 * 8.00 / 1e6)
    assert cost.savings_usd == pytest.approx(400_000 * 1.50 / 1e6)
    # cached can never exceed the prompt it is part of
    assert PriceBook.cost(price, 10, 0, 50).usd == pytest.approx(10 * 0.50 / 1e6)


def test_override_file_merges(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "version: gw-2026\nmodels:\n  gpt-4.1: {input: 1.5, output: 6}\n  my-model: {input: 1, "
        "cached_input: 0.1, output: 2}\naliases:\n  mine: my-model\n"
    )
    book = load_price_book(str(path))
    assert book.models["gpt-4.1"] == Price(1.5, 1.5, 6.0)
    assert book.models["claude-sonnet-4"] == Price(3.00, 0.30, 15.00, 3.75)  # defaults kept
    assert book.lookup("mine") == ("my-model", Price(1.0, 0.1, 2.0))
    assert "gw-2026" in book.version


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("models: [1, 2]", ".yaml", "'models' must be a mapping"),
        ("models:\n  m: {input: -1, output: 2}", ".yaml", "models.m.input must be a non-negative number"),
        ("models:\n  m: {output: 2}", ".yaml", "models.m.input is missing"),
        ("models:\n  m: {input: 1, output: 2, price: 3}", ".yaml", "unknown fields: price"),
        ("{bad json", ".json", "not valid JSON"),
        ("a: [unclosed", ".yml", "not valid YAML"),
        ("- just a list", ".yaml", "top level must be a mapping"),
        # cache writes and long-context tiers
        ("models:\n  m: {input: 1, output: 2, cache_write: -3}", ".yaml", r"models\.m\.cache_write must be a non-neg"),
        ("models:\n  m: {input: 1, output: 2, cache_write: yes}", ".yaml", r"models\.m\.cache_write must be a non-neg"),
        ("models:\n  m: {input: 1, output: 2, tiers: {above_input_tokens: 5}}", ".yaml", r"m\.tiers must be a list"),
        ("models:\n  m: {input: 1, output: 2, tiers: [3]}", ".yaml", r"models\.m\.tiers\[0\] must be a mapping"),
        (
            "models:\n  m: {input: 1, output: 2, tiers: [{input: 2, output: 4}]}",
            ".yaml",
            r"models\.m\.tiers\[0\]\.above_input_tokens must be a positive whole number of tokens, not None",
        ),
        (
            "models:\n  m: {input: 1, output: 2, tiers: [{above_input_tokens: 0.5, input: 2, output: 4}]}",
            ".yaml",
            r"tiers\[0\]\.above_input_tokens must be a positive whole number of tokens, not 0\.5",
        ),
        (
            '{"models": {"m": {"input": 1, "output": 2, "tiers": [{"above_input_tokens": 10, "input": 2}]}}}',
            ".json",
            r"models\.m\.tiers\[0\]\.output is missing",
        ),
        (
            "models:\n  m: {input: 1, output: 2, tiers: [{above_input_tokens: 9, input: 2, output: 4, tiers: []}]}",
            ".yaml",
            r"models\.m\.tiers\[0\] has unknown fields: tiers",
        ),
        (
            "models:\n  m:\n    input: 1\n    output: 2\n    tiers:\n"
            "      - {above_input_tokens: 9, input: 2, output: 4}\n"
            "      - {above_input_tokens: 9, input: 3, output: 5}\n",
            ".yaml",
            r"models\.m\.tiers\[1\]\.above_input_tokens: another tier of this model has the threshold 9",
        ),
        ("models:\n  m: {input: 1, output: 2, cache_read: 1}", ".yaml", "unknown fields: cache_read \\(known: "),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"prices{suffix}"
    path.write_text(text)
    with pytest.raises(PriceBookError, match=message) as info:
        read_price_file(path)
    assert str(path) in str(info.value)


def test_bad_file_warns_once_and_defaults_stand(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"models": {"gpt-4.1": {"input": "cheap"}}}')
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        book = load_price_book(str(path))
    assert book.models["gpt-4.1"] == Price(2.00, 0.50, 8.00)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "built-in prices stand" in warnings[0].getMessage()
    missing = load_price_book(str(tmp_path / "nope.yaml"))
    assert missing.models["gpt-4.1"] == Price(2.00, 0.50, 8.00)


def test_yaml_price_file_without_pyyaml_says_how_to_fix_and_defaults_stand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PyYAML is only in the [cli] extra: a bare install given a YAML price file warns with the fix and prices with
    the built-in book (the app never sees an exception); a JSON file still merges."""
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError, as when it is absent
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  gpt-4.1: {input: 1.5, output: 6}\n")
    with pytest.raises(PriceBookError) as info:
        read_price_file(path)
    assert str(info.value) == f"{path}: {NO_YAML_FIX}"
    assert "pip install pyyaml" in NO_YAML_FIX
    assert "otel-holysheep[cli]" in NO_YAML_FIX
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        book = load_price_book(str(path))
    assert book.models["gpt-4.1"] == Price(2.00, 0.50, 8.00)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"otel-holysheep: price file ignored, the built-in prices stand: {path}: {NO_YAML_FIX}"
    ]
    json_path = tmp_path / "prices.json"
    json_path.write_text('{"models": {"gpt-4.1": {"input": 1.5, "output": 6}}}')
    assert load_price_book(str(json_path)).models["gpt-4.1"] == Price(1.5, 1.5, 6.0)


def test_cache_write_and_tier_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"models": {"long-model": {"input": 3, "cached_input": 0.3, "output": 15, "cache_write": 3.75, "tiers": ['
        '{"above_input_tokens": 1000000, "input": 9, "output": 30},'
        '{"above_input_tokens": 200000, "input": 6, "cached_input": 0.6, "output": 22.5, "cache_write": 7.5}]}}}'
    )
    price = read_price_file(path).models["long-model"]
    million = Price(9.0, 9.0, 30.0)  # cached_input defaults to the tier's input; cache_write (None) prices as input
    long = Price(6.0, 0.6, 22.5, 7.5)
    assert price == Price(3.0, 0.3, 15.0, 3.75, (Tier(1_000_000, million), Tier(200_000, long)))  # highest first
    assert price.at(200_000) is price  # "above": a prompt of exactly the threshold is not in the tier
    assert price.at(200_001) == long
    assert price.at(1_000_001) == million


def test_cost_prices_cache_writes_and_the_long_context_tier() -> None:
    long = Price(6.0, 0.6, 22.5, 7.5)
    price = Price(3.0, 0.3, 15.0, 3.75, (Tier(200_000, long),))
    short = PriceBook.cost(price, 10_000, 500, cached_tokens=2_000, cache_write=3_000)
    assert short.usd == pytest.approx((5_000 * 3.0 + 2_000 * 0.3 + 3_000 * 3.75 + 500 * 15.0) / 1e6)
    assert short.savings_usd == pytest.approx(2_000 * 2.7 / 1e6)
    big = PriceBook.cost(price, 250_000, 1_000, cached_tokens=50_000, cache_write=100_000)
    assert big.usd == pytest.approx((100_000 * 6.0 + 50_000 * 0.6 + 100_000 * 7.5 + 1_000 * 22.5) / 1e6)
    # without a cache_write price cache writes cost the input price; writes never exceed the uncached prompt
    assert PriceBook.cost(Price(2.0, 0.5, 8.0), 100, 0, 40, 500).usd == pytest.approx((40 * 0.5 + 60 * 2.0) / 1e6)


@pytest.mark.parametrize(
    ("requested", "served", "same"),
    [
        ("gpt-4.1", "gpt-4.1-2025-04-14", True),
        ("gpt-4.1", "openai/gpt-4.1", True),
        ("claude-4-sonnet", "claude-sonnet-4-20250514", True),  # an alias and a dated name of its model
        ("house-model", "House-Model-2026-01-02", True),  # unknown to the book: the name without date suffix
        ("gpt-4.1", "claude-sonnet-4", False),
        ("gpt-4.1", "gpt-4.1-mini", False),
        ("house-model", "house-model-v2", False),
    ],
)
def test_identity_tells_a_substitution_from_a_snapshot(requested: str, served: str, same: bool) -> None:
    book = PriceBook.default()
    assert (book.identity(requested) == book.identity(served)) is same
