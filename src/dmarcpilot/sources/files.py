"""Inputs from the file system: files, directories (recursive), Maildir folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dmarcpilot.bytestream import Opener

_MAILDIR_PARTS = ("cur", "new", "tmp")


@dataclass(frozen=True, slots=True)
class Input:
    """One input as it arrived: where from, and how to read it (again)."""

    origin: str
    opener: Opener


@dataclass(frozen=True, slots=True)
class Unreadable:
    origin: str
    reason: str


def _file_opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def is_maildir(path: Path) -> bool:
    return all((path / part).is_dir() for part in _MAILDIR_PARTS)


def walk_paths(paths: list[str]) -> Iterator[Input | Unreadable]:
    """Every file under the given paths, in a stable order.

    A Maildir's ``tmp/`` holds deliveries in progress and is skipped; hidden
    files and directories (``.DS_Store``, ``.git``) are skipped too, except
    Maildir++ folders.
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield Unreadable(raw, "no such file or directory")
        elif path.is_dir():
            yield from _walk_dir(path)
        elif not path.is_file():
            yield Unreadable(raw, "not a regular file")
        else:
            yield Input(str(path), _file_opener(path))


def _walk_dir(root: Path) -> Iterator[Input | Unreadable]:
    for dirpath, dirnames, filenames in os.walk(root, onerror=None):
        here = Path(dirpath)
        dirnames.sort()
        skip_tmp = is_maildir(here)
        # Hidden directories are skipped, except Maildir++ folders (".Reports").
        dirnames[:] = [
            d for d in dirnames
            if not (skip_tmp and d == "tmp") and (not d.startswith(".") or is_maildir(here / d))
        ]
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = here / name
            if not os.access(file, os.R_OK):
                yield Unreadable(str(file), "permission denied")
                continue
            yield Input(str(file), _file_opener(file))
