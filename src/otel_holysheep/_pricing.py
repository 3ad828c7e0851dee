"""The price book: USD per 1M tokens per model (input, cached input, cache writes, output, long-context tiers), aliases,
and the cost of one call.

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
    """USD per 1M tokens. ``cache_write``: prompt tokens written to the prompt cache (``None``: priced as input).
    ``tiers``: long-context prices, highest threshold first; a call whose prompt is above a tier's threshold is
    priced, all of it, at that tier (see :meth:`at`)."""

    input: float
    cached_input: float
    output: float
    cache_write: float | None = None
    tiers: tuple[Tier, ...] = ()

    def at(self, prompt_tokens: int) -> Price:
        """The price of a call with ``prompt_tokens`` of input (cached and cache-written ones included)."""
        for tier in self.tiers:
            if prompt_tokens > tier.above_input_tokens:
                return tier.price
        return self


@dataclass(frozen=True)
class Tier:
    """A long-context tier: calls whose prompt is above ``above_input_tokens`` pay ``price`` for every token."""

    above_input_tokens: int
    price: Price


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

    def identity(self, model: str) -> str:
        """The model a name stands for: its base model in the book, else the name lower-cased without a provider
        prefix or a date suffix. Two names with one identity (``gpt-4.1`` and ``gpt-4.1-2025-04-14``, an alias and
        its model) are the same model, not a substitution."""
        found = self.lookup(model)
        if found is not None:
            return found[0]
        return _DATE_SUFFIX.sub("", model.strip().lower().rsplit("/", 1)[-1])

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
    def cost(
        price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int, cache_write: int = 0
    ) -> Cost:
        """Cost of one call at the tier its prompt size selects. Cached input and cache-written input are part of the
        prompt tokens: they are priced as cached and as cache writes, the rest as input."""
        prompt = max(prompt_tokens, 0)
        if price.tiers:
            price = price.at(prompt)
        cached = min(max(cached_tokens, 0), prompt)
        written = min(max(cache_write, 0), prompt - cached)
        uncached = prompt - cached - written
        usd = uncached * price.input + cached * price.cached_input + max(completion_tokens, 0) * price.output
        if written:
            usd += written * (price.input if price.cache_write is None else price.cache_write)
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


_PRICE_FIELDS: Final = ("input", "output", "cached_input", "cache_write")
_TIER_FIELDS: Final = frozenset({*_PRICE_FIELDS, "above_input_tokens"})
_ENTRY_FIELDS: Final = frozenset({*_PRICE_FIELDS, "tiers"})
PRICE_FIELDS_HELP: Final = (
    "input and output (required), cached_input (default: input), cache_write (default: input) in USD per 1M tokens, "
    "and tiers: a list of {above_input_tokens, input, output, cached_input, cache_write}"
)


def _price(entry: Any, where: str) -> Price:
    """One model's entry: its prices and its long-context tiers."""
    base = _prices(entry, where, _ENTRY_FIELDS)
    raw_tiers = entry.get("tiers")
    if raw_tiers is None:
        return base
    if not isinstance(raw_tiers, list):
        raise PriceBookError(f"{where}.tiers must be a list of {{above_input_tokens, input, output, ...}} mappings")
    tiers: list[Tier] = []
    for index, raw in enumerate(raw_tiers):
        at = f"{where}.tiers[{index}]"
        price = _prices(raw, at, _TIER_FIELDS)
        threshold = raw.get("above_input_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise PriceBookError(
                f"{at}.above_input_tokens must be a positive whole number of tokens, not {threshold!r}"
            )
        if any(tier.above_input_tokens == threshold for tier in tiers):
            raise PriceBookError(f"{at}.above_input_tokens: another tier of this model has the threshold {threshold}")
        tiers.append(Tier(threshold, price))
    tiers.sort(key=lambda tier: -tier.above_input_tokens)
    return Price(base.input, base.cached_input, base.output, base.cache_write, tuple(tiers))


def _prices(entry: Any, where: str, allowed: frozenset[str]) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceBookError(f"{where} must be a mapping: {PRICE_FIELDS_HELP}")
    values: dict[str, float] = {}
    for key in _PRICE_FIELDS:
        raw = entry.get(key)
        if raw is None:
            if key in ("cached_input", "cache_write"):
                continue
            raise PriceBookError(f"{where}.{key} is missing (USD per 1M tokens)")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
            raise PriceBookError(f"{where}.{key} must be a non-negative number, not {raw!r}")
        values[key] = float(raw)
    unknown = set(map(str, entry)) - allowed
    if unknown:
        raise PriceBookError(
            f"{where} has unknown fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(allowed))})"
        )
    cached_input = values.get("cached_input", values["input"])
    return Price(values["input"], cached_input, values["output"], values.get("cache_write"))
