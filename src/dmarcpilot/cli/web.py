"""``dmarcpilot serve`` (the dashboard and JSON API) and ``dmarcpilot user add|passwd|del|list|token``."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import UTC, datetime

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.store.users import Role, delete_token, delete_user, list_tokens, list_users, update_user
from dmarcpilot.web.accounts import Accounts, check_domains
from dmarcpilot.web.config import WebConfig


def _config(settings: Settings) -> WebConfig:
    return WebConfig.from_env(settings.db_url, settings.ip_databases)


def _accounts(settings: Settings) -> Accounts:
    return Accounts(settings.engine(), _config(settings))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--insecure-cookies", is_flag=True, envvar="DMARCPILOT_WEB_INSECURE_COOKIES",
              help="Session cookies without the Secure flag (plain HTTP on a trusted network only).")
@format_option
@click.pass_obj
def serve_cmd(settings: Settings, host: str, port: int, insecure_cookies: bool, fmt: str) -> None:
    """Serve the dashboard and its JSON API (uvicorn); put TLS in front of it (a reverse proxy)."""
    import uvicorn

    from dmarcpilot.web.app import create_app

    config = _config(settings)
    if insecure_cookies:
        config = dataclasses.replace(config, secure_cookies=False)
    app = create_app(config)
    url = f"http://{host}:{port}/"
    if fmt == "json":
        # one line, flushed before the server starts: a supervisor can read where it listens
        click.echo(json.dumps({"serving": url, "openapi": url + "api/openapi.json",
                               "secure_cookies": config.secure_cookies}))
    else:
        click.echo(f"dmarcpilot: serving {url} (JSON API under {url}api/, OpenAPI at {url}api/openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


@click.group("user")
def user_group() -> None:
    """Accounts of the web dashboard: roles viewer or admin, per-domain access, API tokens."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value, show_default=True)
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="A domain the user may see (repeatable); '*' for every domain (default).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@format_option
@click.pass_obj
def user_add(settings: Settings, username: str, role: str, domains: tuple[str, ...], password_stdin: bool,
             fmt: str) -> None:
    """Create USERNAME (password asked twice, or from stdin)."""
    user = _accounts(settings).create(username, _password(password_stdin), Role(role), domains or ("*",))
    if fmt == "json":
        emit_json(user.to_dict())
    else:
        click.echo(f"added {user.username} ({user.role.value}) for {', '.join(user.domains)}")


@user_group.command("passwd")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), help="Change the role too.")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN", help="Replace the domains too.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--keep-password", is_flag=True, help="Change only --role / --domain.")
@format_option
@click.pass_obj
def user_passwd(settings: Settings, username: str, role: str | None, domains: tuple[str, ...], password_stdin: bool,
                keep_password: bool, fmt: str) -> None:
    """Set USERNAME's password (ends its sessions); optionally its role and domains."""
    accounts = _accounts(settings)
    if not keep_password:
        accounts.set_password(username, _password(password_stdin))
    if role or domains:
        update_user(settings.engine(), username, datetime.now(UTC), role=Role(role) if role else None,
                    domains=check_domains(domains) if domains else None)
    if fmt == "json":
        emit_json({"username": username, "password_changed": not keep_password})
    else:
        click.echo(f"updated {username}")


@user_group.command("del")
@click.argument("username")
@format_option
@click.pass_obj
def user_del(settings: Settings, username: str, fmt: str) -> None:
    """Delete USERNAME with its sessions and API tokens."""
    delete_user(settings.engine(), username)
    if fmt == "json":
        emit_json({"deleted": username})
    else:
        click.echo(f"deleted {username}")


@user_group.command("list")
@format_option
@click.pass_obj
def user_list(settings: Settings, fmt: str) -> None:
    """Every account with its role and domains."""
    users = list_users(settings.engine())
    if fmt == "json":
        emit_json([u.to_dict() for u in users])
        return
    emit_table("Users", ("user", "role", "domains", "created (UTC)"),
               [(u.username, u.role.value, " ".join(u.domains), f"{u.created_at:%Y-%m-%d %H:%M}") for u in users])


@user_group.group("token")
def token_group() -> None:
    """API tokens (Authorization: Bearer ...) for scripts; only their hash is stored."""


@token_group.command("add")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@format_option
@click.pass_obj
def token_add(settings: Settings, username: str, name: str, fmt: str) -> None:
    """Create a token acting as USERNAME; it is shown once."""
    secret, row = _accounts(settings).new_token(username, name)
    if fmt == "json":
        emit_json({**row.to_dict(), "token": secret})
    else:
        click.echo(secret)
        click.echo(f"(token {row.id} for {row.username}: shown once, store it now)", err=True)


@token_group.command("list")
@click.argument("username", required=False)
@format_option
@click.pass_obj
def token_list(settings: Settings, username: str | None, fmt: str) -> None:
    """API tokens (never their secret)."""
    rows = list_tokens(settings.engine(), username)
    if fmt == "json":
        emit_json([r.to_dict() for r in rows])
        return
    emit_table("API tokens", ("id", "user", "name", "created (UTC)", "last used (UTC)"),
               [(r.id, r.username, r.name, f"{r.created_at:%Y-%m-%d %H:%M}",
                 f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "") for r in rows])


@token_group.command("del")
@click.argument("token_id", type=int)
@format_option
@click.pass_obj
def token_del(settings: Settings, token_id: int, fmt: str) -> None:
    """Revoke API token TOKEN_ID."""
    delete_token(settings.engine(), token_id)
    if fmt == "json":
        emit_json({"deleted": token_id})
    else:
        click.echo(f"deleted token {token_id}")
