"""``dmarcpilot user add|passwd|del|list|token`` and ``dmarcpilot serve`` (a real process on loopback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.store.db import open_store
from dmarcpilot.web.accounts import Accounts
from dmarcpilot.web.config import WebConfig


def run(db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], input=stdin)
    return result.exit_code, result.output


def test_user_commands(sqlite_url: str) -> None:
    code, out = run(sqlite_url, "user", "add", "alice", "--role", "admin", "--password-stdin", "--format", "json",
                    stdin="a very long password\n")
    assert code == 0, out
    assert json.loads(out)["domains"] == ["*"]
    code, out = run(sqlite_url, "user", "add", "bob", "--domain", "Example.EDU", stdin="bob's password 1\n" * 2)
    assert code == 0, out
    assert "added bob (viewer) for example.edu" in out
    code, out = run(sqlite_url, "user", "add", "bob", "--password-stdin", stdin="another password\n")
    assert code != 0
    code, out = run(sqlite_url, "user", "add", "carol", "--password-stdin", stdin="short\n")
    assert code != 0
    code, out = run(sqlite_url, "user", "list", "--format", "json")
    assert [(u["username"], u["role"]) for u in json.loads(out)] == [("alice", "admin"), ("bob", "viewer")]

    accounts = Accounts(open_store(sqlite_url), WebConfig(db_url=sqlite_url))
    accounts.login("bob", "bob's password 1", "127.0.0.1")
    code, out = run(sqlite_url, "user", "passwd", "bob", "--password-stdin", "--role", "admin", "--domain", "*",
                    stdin="bob's new password\n")
    assert code == 0, out
    accounts.login("bob", "bob's new password", "127.0.0.1")
    code, out = run(sqlite_url, "user", "list", "--format", "json")
    assert json.loads(out)[1] == {**json.loads(out)[1], "role": "admin", "domains": ["*"]}

    code, out = run(sqlite_url, "user", "token", "add", "alice", "--name", "cron", "--format", "json")
    token = json.loads(out)
    assert code == 0 and token["token"].startswith("dp_")
    assert accounts.token_user(token["token"]).username == "alice"  # type: ignore[union-attr]
    code, out = run(sqlite_url, "user", "token", "list", "--format", "json")
    assert "token" not in json.loads(out)[0] and json.loads(out)[0]["name"] == "cron"
    assert run(sqlite_url, "user", "token", "del", str(token["id"]))[0] == 0
    assert accounts.token_user(token["token"]) is None

    assert run(sqlite_url, "user", "del", "bob")[0] == 0
    assert run(sqlite_url, "user", "del", "bob")[0] != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_prints_a_json_line_and_serves(sqlite_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DMARCPILOT_DB": sqlite_url}
    proc = subprocess.Popen([sys.executable, "-m", "dmarcpilot", "serve", "--port", str(port), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True)
    try:
        assert proc.stdout is not None
        startup = json.loads(proc.stdout.readline())
        assert startup["serving"] == f"http://127.0.0.1:{port}/" and startup["secure_cookies"] is True
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
                    assert answer.status == 200
                    assert "Secure" in answer.headers["set-cookie"]
                    break
            except OSError:
                assert time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
