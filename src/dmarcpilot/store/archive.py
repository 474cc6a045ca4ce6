"""The raw archive: every input's original bytes, compressed, content-addressed.

Blobs live in the database (not on a local disk) so that every process of a
shared deployment sees them. They are split into chunks of about 1 MiB so
that neither writing nor reading a large input ever holds it in memory.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.bytestream import Opener
from dmarcpilot.store.dialect import insert_ignore
from dmarcpilot.store.schema import blob_chunks, blobs

CHUNK = 1024 * 1024
CODEC = "zlib"


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int


def digest(opener: Opener) -> BlobRef:
    """SHA-256 and size of a stream, read once in chunks."""
    hasher = hashlib.sha256()
    size = 0
    with opener() as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return BlobRef(hasher.hexdigest(), size)


def _compressed_chunks(opener: Opener) -> Iterator[bytes]:
    compressor = zlib.compressobj(level=1)
    pending: list[bytes] = []
    pending_size = 0
    with opener() as stream:
        while chunk := stream.read(CHUNK):
            out = compressor.compress(chunk)
            if out:
                pending.append(out)
                pending_size += len(out)
            if pending_size >= CHUNK:
                yield b"".join(pending)
                pending, pending_size = [], 0
    pending.append(compressor.flush())
    yield b"".join(pending)


def store_blob(conn: sa.Connection, ref: BlobRef, opener: Opener) -> bool:
    """Archive the bytes behind ``ref``; False when they were already there."""
    now = datetime.now(UTC)
    inserted = conn.execute(
        insert_ignore(conn, blobs)
        .values(sha256=ref.sha256, size=ref.size, stored_size=0, codec=CODEC, chunks=0, created_at=now)
        .returning(blobs.c.sha256)
    ).first()
    if inserted is None:
        return False
    stored = seq = 0
    for seq, data in enumerate(_compressed_chunks(opener)):
        conn.execute(blob_chunks.insert().values(sha256=ref.sha256, seq=seq, data=data))
        stored += len(data)
    conn.execute(
        blobs.update().where(blobs.c.sha256 == ref.sha256).values(stored_size=stored, chunks=seq + 1)
    )
    return True


class BlobReader(io.RawIOBase):
    """Streams a blob back, one chunk in memory at a time."""

    def __init__(self, engine: sa.Engine, sha256: str) -> None:
        self._engine = engine
        self._sha = sha256
        self._seq = 0
        self._decomp = zlib.decompressobj()
        self._buffer = b""
        with engine.connect() as conn:
            row = conn.execute(sa.select(blobs.c.chunks).where(blobs.c.sha256 == sha256)).first()
        if row is None:
            raise KeyError(sha256)
        self._chunks = int(row.chunks)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        while len(self._buffer) < size and self._seq < self._chunks:
            with self._engine.connect() as conn:
                data = conn.execute(
                    sa.select(blob_chunks.c.data).where(
                        blob_chunks.c.sha256 == self._sha, blob_chunks.c.seq == self._seq
                    )
                ).scalar_one()
            self._seq += 1
            self._buffer += self._decomp.decompress(data)
            if self._seq == self._chunks:
                self._buffer += self._decomp.flush()
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def blob_opener(engine: sa.Engine, sha256: str) -> Opener:
    return lambda: BlobReader(engine, sha256)


def read_blob(engine: sa.Engine, sha256: str) -> bytes:
    with blob_opener(engine, sha256)() as stream:
        return b"".join(iter(lambda: stream.read(CHUNK), b""))
