"""The price book: USD per 1M tokens per model, aliases, and the cost of one call.

Pure module. A model the book does not know has no price: callers record no cost for it (never a guess, never $0).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

_logger = logging.getLogger("otel_holysheep")

PER_TOKENS: Final = 1_000_000
_DATE_SUFFIX: Final = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")
_LOOKUP_CACHE_MAX: Final = 1024
# PyYAML is not a dependency of the instrumentation (the [cli] extra brings it): a YAML price file says so.
NO_YAML_FIX: Final = (
    "a YAML price file needs PyYAML, which is not installed: pip install pyyaml (or 'otel-holysheep[cli]'), "
    "or write the file as JSON (a .json file needs nothing)"
)


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True)
class Cost:
    """What one call cost, and what its cached input saved against the input price."""

    usd: float
    savings_usd: float


class PriceBookError(ValueError):
    """A price file that cannot be used; the message says which file and which field."""


class PriceBook:
    """Prices by base model name, with aliases for dated and provider-prefixed names."""

    def __init__(self, version: str, prices: Mapping[str, Price], aliases: Mapping[str, str]) -> None:
        self.version = version
        self._prices = dict(prices)
        self._aliases = dict(aliases)
        self._cache: dict[str, tuple[str, Price] | None] = {}

    @property
    def models(self) -> dict[str, Price]:
        return dict(self._prices)

    @classmethod
    def default(cls) -> PriceBook:
        text = resources.files("otel_holysheep").joinpath("prices.json").read_text(encoding="utf-8")
        return cls.from_mapping(json.loads(text), "the built-in price book")

    @classmethod
    def from_mapping(cls, data: Any, source: str) -> PriceBook:
        """Validate a parsed price document; raise :class:`PriceBookError` naming ``source`` and the field."""
        if not isinstance(data, Mapping):
            raise PriceBookError(f"{source}: the top level must be a mapping with 'models' (and optional 'aliases')")
        models = data.get("models", {})
        aliases = data.get("aliases", {})
        if not isinstance(models, Mapping):
            raise PriceBookError(f"{source}: 'models' must be a mapping of model name to prices")
        if not isinstance(aliases, Mapping):
            raise PriceBookError(f"{source}: 'aliases' must be a mapping of alias to model name")
        prices = {
            str(name).strip().lower(): _price(entry, f"{source}: models.{name}") for name, entry in models.items()
        }
        clean_aliases: dict[str, str] = {}
        for alias, target in aliases.items():
            if not isinstance(target, str) or not target.strip():
                raise PriceBookError(f"{source}: aliases.{alias} must name a model")
            clean_aliases[str(alias).strip().lower()] = target.strip().lower()
        version = data.get("version", "custom")
        return cls(str(version), prices, clean_aliases)

    def merged(self, other: PriceBook) -> PriceBook:
        """This book with ``other``'s prices and aliases laid over it (the override wins per model)."""
        return PriceBook(
            f"{self.version}+{other.version}", {**self._prices, **other._prices}, {**self._aliases, **other._aliases}
        )

    def lookup(self, model: str) -> tuple[str, Price] | None:
        """The (base model, price) for ``model`` or ``None``; dated and provider-prefixed names map to the base."""
        try:
            return self._cache[model]
        except KeyError:
            pass
        found = self._resolve(model)
        if len(self._cache) < _LOOKUP_CACHE_MAX:
            self._cache[model] = found
        return found

    def _resolve(self, model: str) -> tuple[str, Price] | None:
        name = model.strip().lower()
        candidates = [name]
        if "/" in name:
            candidates.append(name.rsplit("/", 1)[1])
        for candidate in list(candidates):
            undated = _DATE_SUFFIX.sub("", candidate)
            if undated != candidate:
                candidates.append(undated)
        for candidate in candidates:
            base = self._aliases.get(candidate, candidate)
            price = self._prices.get(base)
            if price is not None:
                return base, price
        return None

    @staticmethod
    def cost(price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> Cost:
        """Cost of one call; cached input (part of the prompt tokens) is priced as cached."""
        cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
        uncached = max(prompt_tokens, 0) - cached
        usd = uncached * price.input + cached * price.cached_input + max(completion_tokens, 0) * price.output
        savings = cached * max(price.input - price.cached_input, 0.0)
        return Cost(usd / PER_TOKENS, savings / PER_TOKENS)


def load_price_book(path: str | None) -> PriceBook:
    """The built-in book, merged with the file at ``path`` when given and valid (else a warning, defaults stand)."""
    book = PriceBook.default()
    if not path:
        return book
    try:
        override = read_price_file(Path(path))
    except PriceBookError as exc:
        _logger.warning("otel-holysheep: price file ignored, the built-in prices stand: %s", exc)
        return book
    return book.merged(override)


def read_price_file(path: Path) -> PriceBook:
    """Read and validate a YAML or JSON price file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceBookError(f"{path}: cannot read it ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise PriceBookError(f"{path}: not valid JSON ({exc})") from exc
        return PriceBook.from_mapping(data, str(path))
    try:
        import yaml  # noqa: PLC0415 - optional: only a YAML price file needs it
    except ImportError as exc:
        raise PriceBookError(f"{path}: {NO_YAML_FIX}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceBookError(f"{path}: not valid YAML ({exc})") from exc
    return PriceBook.from_mapping(data, str(path))


def _price(entry: Any, where: str) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceBookError(f"{where} must be a mapping with input, output and optional cached_input")
    values: dict[str, float] = {}
    for key in ("input", "output", "cached_input"):
        raw = entry.get(key)
        if raw is None:
            if key == "cached_input":
                continue
            raise PriceBookError(f"{where}.{key} is missing (USD per 1M tokens)")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
            raise PriceBookError(f"{where}.{key} must be a non-negative number, not {raw!r}")
        values[key] = float(raw)
    unknown = set(entry) - {"input", "output", "cached_input", "cache_write"}
    if unknown:
        raise PriceBookError(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    return Price(values["input"], values.get("cached_input", values["input"]), values["output"])
