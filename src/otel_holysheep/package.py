"""Which libraries otel-holysheep instruments (any one of them is enough)."""

_instruments_httpx = ("httpx >= 0.23.0",)
_instruments_httpx2 = ("httpx2 >= 2.0.0",)
_instruments_requests = ("requests >= 2.25.0",)
_instruments_aiohttp = ("aiohttp >= 3.9.0",)

_instruments: tuple[str, ...] = ()
_instruments_any = (*_instruments_httpx, *_instruments_httpx2, *_instruments_requests, *_instruments_aiohttp)

_supports_metrics = True
