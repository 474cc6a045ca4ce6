"""The byte-stream protocol shared by sources, parsers and the archive."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self


class ByteStream(Protocol):
    """What every opener returns: a closable binary reader (files, BytesIO, ours)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> object: ...



#: Opens a fresh stream over the same bytes each time it is called.
Opener = Callable[[], ByteStream]
