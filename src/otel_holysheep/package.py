"""Which libraries otel-holysheep instruments (any one of them is enough)."""

_instruments_httpx = ("httpx >= 0.23.0",)
_instruments_httpx2 = ("httpx2 >= 2.0.0",)

_instruments: tuple[str, ...] = ()
_instruments_any = (*_instruments_httpx, *_instruments_httpx2)

_supports_metrics = True
