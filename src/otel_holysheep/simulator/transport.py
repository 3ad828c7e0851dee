"""Low-level response writing: chunked transfer encoding, SSE framing, streaming compression, abrupt cuts."""

from __future__ import annotations

import contextlib
import gzip
import io
import socket
import time
import zlib

__all__ = ["ChunkedWriter", "compress_body", "cut_connection", "new_compressor"]


def new_compressor(encoding: str | None) -> zlib._Compress | None:
    """A streaming compressor for ``gzip`` or ``deflate`` (zlib-wrapped, as HTTP means it)."""
    if encoding == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 31)
    if encoding == "deflate":
        return zlib.compressobj(6, zlib.DEFLATED, 15)
    return None


def compress_body(data: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    return data


class ChunkedWriter:
    """Writes SSE events as HTTP/1.1 chunks, one flush per event (or per piece when splitting)."""

    def __init__(
        self,
        wfile: io.BufferedIOBase,
        conn: socket.socket,
        *,
        encoding: str | None = None,
        crlf: bool = False,
        comments: bool = False,
        split: bool = False,
    ) -> None:
        self._wfile = wfile
        self._conn = conn
        self._compressor = new_compressor(encoding)
        self._newline = "\r\n" if crlf else "\n"
        self._comments = comments
        self._split = split
        self._events = 0
        self.closed = False

    def event(self, data: str, event: str | None = None) -> None:
        """One SSE event: optional ``event:`` line, one ``data:`` line, blank line."""
        nl = self._newline
        text = ""
        if self._comments and self._events:
            text += f": keep-alive{nl}{nl}"
        if event is not None:
            text += f"event: {event}{nl}"
        text += f"data: {data}{nl}{nl}"
        self._events += 1
        self.write(text.encode("utf-8"))

    def write(self, raw: bytes) -> None:
        """Write raw payload bytes (compressed with a sync flush when compressing)."""
        if self._compressor is not None:
            raw = self._compressor.compress(raw) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if not self._split or len(raw) < 4:
            self._chunk(raw)
            return
        # Pieces at odd offsets (never aligned to a line or a UTF-8 boundary on purpose).
        cuts = sorted({len(raw) // 3 | 1, (2 * len(raw)) // 3 | 1})
        start = 0
        for cut in [*cuts, len(raw)]:
            if cut > start:
                self._chunk(raw[start:cut])
                time.sleep(0.002)
            start = cut

    def _chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would terminate the body
            self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._wfile.flush()

    def finish(self) -> None:
        """Flush the compressor and send the terminating zero-length chunk."""
        if self._compressor is not None:
            self._chunk(self._compressor.flush())
        self._wfile.write(b"0\r\n\r\n")
        self._wfile.flush()
        self.closed = True

    def cut(self) -> None:
        """Close the connection abruptly: no terminating chunk, the client sees an incomplete body."""
        cut_connection(self._conn)
        self.closed = True


def cut_connection(conn: socket.socket) -> None:
    """Half-close (FIN) so the client reads EOF mid-body."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
