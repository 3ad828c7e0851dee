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
    load_price_book,
    read_price_file,
)


def test_default_book_has_the_list_prices() -> None:
    book = PriceBook.default()
    assert book.version
    assert book.models["gpt-4.1"] == Price(2.00, 0.50, 8.00)
    assert book.models["claude-sonnet-4"] == Price(3.00, 0.30, 15.00)
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
    assert book.models["claude-sonnet-4"] == Price(3.00, 0.30, 15.00)  # defaults kept
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
