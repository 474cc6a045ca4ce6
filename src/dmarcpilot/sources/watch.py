"""Watched directories and Maildir folders, polled.

Each poll lists the files that arrived (a Maildir's ``new/`` and ``cur/``; in
a plain directory every regular file, recursively, once it has not changed
for ``settle_seconds`` — a copy in progress is not read half-way), ingests
them, and then, by default (``after = "move"``), moves each into ``done/``
— or ``error/`` when a part was rejected — only after ``Ingestor.ingest``
returned, so that a crash leaves the file where it was and the next poll
ingests it again (the content hash makes that a no-op).

With ``after = "keep"`` files are left in place: each poll skips files whose
size and modification time did not change since it processed them, and a
restart re-reads them all, relying on idempotence (the store recognises the
content; no report is stored twice). Use it for a directory that another
tool owns.

Polling is enough here (reports arrive a few times a day); no inotify library
is needed.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.sources.files import is_maildir

log = logging.getLogger(__name__)


class AfterIngest(enum.Enum):
    MOVE = "move"  # into done/ (or error/): the directory shows what is left to do
    KEEP = "keep"  # leave the file; idempotence makes re-reading harmless


@dataclass(frozen=True, slots=True)
class WatchConfig:
    path: Path
    after: AfterIngest = AfterIngest.MOVE
    done_dir: Path | None = None
    error_dir: Path | None = None
    settle_seconds: float = 2.0

    @property
    def done(self) -> Path:
        return self.done_dir or self.path / "done"

    @property
    def error(self) -> Path:
        return self.error_dir or self.path / "error"


@dataclass(frozen=True, slots=True)
class WatchResult:
    ingested: int = 0
    failed: int = 0
    interrupted: bool = False


class DirectoryWatcher:
    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self._seen: dict[Path, tuple[int, int]] = {}  # KEEP mode: (size, mtime_ns) already processed

    def poll(self, ingestor: Ingestor, summary: IngestSummary,
             should_stop: Callable[[], bool] = lambda: False) -> WatchResult:
        ingested = failed = 0
        self._seen = {p: v for p, v in self._seen.items() if p.exists()}  # forget files gone since
        for path, stat in self._ready(time.time()):
            if should_stop():
                return WatchResult(ingested, failed, interrupted=True)
            before = len(summary.rejected)
            ingestor.ingest(str(path), _opener(path), summary)
            rejected = len(summary.rejected) > before
            failed += rejected
            ingested += not rejected
            self._file_away(path, stat, rejected)
        return WatchResult(ingested, failed)

    def _ready(self, now: float) -> Iterator[tuple[Path, os.stat_result]]:
        root = self.config.path
        if not root.is_dir():
            log.warning("watched directory %s does not exist", root)
            return
        maildir = is_maildir(root)
        for path in (self._maildir_files(root) if maildir else self._tree_files(root)):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if self.config.after is AfterIngest.KEEP and self._seen.get(path) == (stat.st_size, stat.st_mtime_ns):
                continue
            # a Maildir delivery is complete once in new/ or cur/; elsewhere, wait until the file settles
            if not maildir and now - stat.st_mtime < self.config.settle_seconds:
                continue
            yield path, stat

    @staticmethod
    def _maildir_files(root: Path) -> Iterator[Path]:
        for part in ("new", "cur"):  # tmp/ holds deliveries in progress
            yield from sorted(p for p in (root / part).iterdir() if p.is_file() and not p.name.startswith("."))

    def _tree_files(self, root: Path) -> Iterator[Path]:
        skip = {self.config.done.resolve(), self.config.error.resolve()}
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip)
            for name in sorted(filenames):
                if not name.startswith("."):
                    yield here / name

    def _file_away(self, path: Path, stat: os.stat_result, rejected: bool) -> None:
        if self.config.after is AfterIngest.KEEP:
            self._seen[path] = (stat.st_size, stat.st_mtime_ns)
            return
        target_root = self.config.error if rejected else self.config.done
        root = self.config.path
        relative = Path(path.name) if is_maildir(root) else path.relative_to(root)
        target = _free_name(target_root / relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``... when a file of that name was filed before."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")
