"""Incremental content decoding (gzip, deflate, and br / zstd when their optional packages are installed)."""

from __future__ import annotations

import zlib
from typing import Any, Protocol


class Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def decoder_for(content_encoding: str) -> Decoder | None:
    """An incremental decoder for ``content-encoding``; ``None`` for identity or an encoding we cannot read."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return _Deflate()
    if encoding == "br":
        try:
            import brotli  # noqa: PLC0415 - optional
        except ImportError:
            return None
        return _Brotli(brotli.Decompressor())
    if encoding == "zstd":
        try:
            import zstandard  # noqa: PLC0415 - optional
        except ImportError:
            return None
        return zstandard.ZstdDecompressor().decompressobj()
    return None


class _Deflate:
    """Deflate as servers send it: zlib-wrapped, or raw (the same fallback httpx makes)."""

    def __init__(self) -> None:
        self._obj: Any = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._obj.decompress(data)  # type: ignore[no-any-return]
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._obj.decompress(data)  # type: ignore[no-any-return]


class _Brotli:
    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def decompress(self, data: bytes) -> bytes:
        return self._obj.process(data)  # type: ignore[no-any-return]
