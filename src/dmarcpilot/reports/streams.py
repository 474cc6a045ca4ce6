"""Capped, streaming decompression (gzip) and counting readers."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

from dmarcpilot.bytestream import ByteStream
from dmarcpilot.reports.errors import LimitExceeded, MalformedReport
from dmarcpilot.reports.limits import Limits

CHUNK = 256 * 1024


def read_all(stream: ByteStream) -> bytes:
    """Read to the end in bounded chunks (so the caps apply on the way)."""
    parts = []
    while chunk := stream.read(CHUNK):
        parts.append(chunk)
    return b"".join(parts)


class Wrapper(io.RawIOBase):
    """A reader over another stream; subclasses override ``read``; closing closes both."""

    def __init__(self, raw: ByteStream) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class CountingReader(Wrapper):
    """Counts the bytes read from ``raw`` (the compressed side of a ratio)."""

    def __init__(self, raw: ByteStream) -> None:
        super().__init__(raw)
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.count += len(chunk)
        return chunk


def check_output(produced: int, consumed: int, limits: Limits, what: str) -> None:
    """Enforce the absolute and ratio caps on a decompressed stream."""
    if produced > limits.max_decompressed_bytes:
        raise LimitExceeded(
            f"{what}: decompressed size exceeds the limit of {limits.max_decompressed_bytes} bytes"
        )
    if produced > limits.ratio_grace_bytes and produced > limits.max_ratio * max(consumed, 1):
        raise LimitExceeded(
            f"{what}: compression ratio exceeds the limit of {limits.max_ratio}:1 (decompression bomb?)"
        )


class GzipReader(Wrapper):
    """Streaming gzip decoder with caps (RFC 1952).

    Accepts several members one after the other (RFC 1952 section 2.2) and,
    like every real-world reader must, ignores trailing padding after the last
    member (Mimecast appends CR LF to its attachments).
    """

    def __init__(self, raw: ByteStream, limits: Limits, what: str = "gzip") -> None:
        self._counter = CountingReader(raw)
        super().__init__(self._counter)
        self._limits = limits
        self._what = what
        self._decomp = zlib.decompressobj(wbits=31)
        self._buffer = b""
        self._produced = 0
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return read_all(self)
        while not self._buffer and not self._eof:
            self._fill(size)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _fill(self, size: int) -> None:
        unconsumed = self._decomp.unconsumed_tail
        chunk = unconsumed or self._raw.read(CHUNK)
        if not chunk:
            if not self._decomp.eof:
                raise MalformedReport(f"{self._what}: truncated gzip stream")
            self._eof = True
            return
        try:
            data = self._decomp.decompress(chunk, max(size, CHUNK))
        except zlib.error as exc:
            raise MalformedReport(f"{self._what}: corrupt gzip data ({exc})") from None
        self._produced += len(data)
        check_output(self._produced, self._consumed(), self._limits, self._what)
        self._buffer += data
        if self._decomp.eof:
            self._next_member(self._decomp.unused_data)

    def _consumed(self) -> int:
        """Compressed bytes really decoded so far (read-ahead not counted)."""
        return self._counter.count - len(self._decomp.unconsumed_tail)

    def _next_member(self, rest: bytes) -> None:
        """Start the members that follow (a loop: 5,000 empty members are legal)."""
        while True:
            rest = rest + (b"" if len(rest) >= 2 else self._raw.read(2 - len(rest)))
            if rest[:2] != b"\x1f\x8b":
                break
            self._decomp = zlib.decompressobj(wbits=31)
            try:
                data = self._decomp.decompress(rest, CHUNK)  # the rest waits in unconsumed_tail
            except zlib.error as exc:
                raise MalformedReport(f"{self._what}: corrupt gzip data ({exc})") from None
            self._produced += len(data)
            check_output(self._produced, self._consumed(), self._limits, self._what)
            self._buffer += data
            if not self._decomp.eof:
                return
            rest = self._decomp.unused_data
        # Trailing padding (CR LF, NULs) after the last member is ignored.
        if rest.strip(b"\r\n\t \x00") or self._raw.read(1).strip(b"\r\n\t \x00"):
            raise MalformedReport(f"{self._what}: unexpected data after the gzip stream")
        self._eof = True


class CappedReader(Wrapper):
    """Reads from ``raw`` and fails once more than ``cap`` bytes come out.

    With ``limits`` and ``consumed`` (compressed bytes behind the output so
    far), the ratio cap applies too.
    """

    def __init__(self, raw: ByteStream, cap: int, what: str, consumed: Callable[[], int] | None = None,
                 limits: Limits | None = None) -> None:
        super().__init__(raw)
        self._cap = cap
        self._what = what
        self._count = 0
        self._consumed = consumed
        self._limits = limits

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return read_all(self)
        chunk = self._raw.read(size)
        self._count += len(chunk)
        if self._count > self._cap:
            raise LimitExceeded(f"{self._what}: size exceeds the limit of {self._cap} bytes")
        if self._limits is not None and self._consumed is not None:
            check_output(self._count, self._consumed(), self._limits, self._what)
        return chunk
