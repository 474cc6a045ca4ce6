"""Run ``dmarcpilot`` as a real process (signals, SIGKILL) and wait for things to happen."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.store.schema import aggregate_reports


def start(db_url: str, *args: str, log: Path) -> subprocess.Popen[str]:
    """``python -m dmarcpilot -v --db URL ARGS...``; stderr (the log) goes to ``log``."""
    with log.open("a") as err:
        return subprocess.Popen([sys.executable, "-m", "dmarcpilot", "-v", "--db", db_url, *args],
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def kill(process: subprocess.Popen[str]) -> bool:
    """SIGKILL; True when the process was still running (it was really interrupted)."""
    running = process.poll() is None
    if running:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()
    return running


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stored_reports(db_url: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(aggregate_reports)).scalar_one())
    except sa.exc.OperationalError:
        return 0  # not migrated yet
    finally:
        engine.dispose()
