"""``dmarcpilot dkim generate|list|activate|revoke|export``: DKIM keys served from the hosted zone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.errors import ConfigError
from dmarcpilot.policy.approvals import normalise_domain
from dmarcpilot.policy.dkimservice import activate, create_key, export_key, revoke
from dmarcpilot.records.dkim import KeyType
from dmarcpilot.store.publishing import StoredKey, list_keys


def settings_secret() -> str:
    """The secret that seals private keys: ``DMARCPILOT_SECRET``, or the file ``DMARCPILOT_SECRET_FILE`` names."""
    path = os.environ.get("DMARCPILOT_SECRET_FILE")
    secret = Path(path).read_text().strip() if path else os.environ.get("DMARCPILOT_SECRET", "")
    if not secret:
        raise ConfigError("DKIM private keys are sealed with a secret: set DMARCPILOT_SECRET or "
                          "DMARCPILOT_SECRET_FILE")
    return secret


def _key_dict(key: StoredKey) -> dict[str, Any]:
    return {"domain": key.domain, "selector": key.selector, "service": key.service, "type": key.key_type,
            "bits": key.bits, "state": key.state.value, "record": key.record,
            "created_at": key.created_at.isoformat(), "changed_at": key.changed_at.isoformat()}


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys per domain and service (private keys sealed at rest)."""


@dkim_group.command("generate")
@click.argument("domain")
@click.option("--service", help="Catalogue id of the service that will sign with it.")
@click.option("--type", "key_type", type=click.Choice([k.value for k in KeyType]), default="rsa", show_default=True)
@click.option("--bits", type=int, default=2048, show_default=True, help="RSA key size.")
@click.option("--selector", help="Selector to use (default dpYYYYMM-SERVICE).")
@format_option
@click.pass_obj
def generate_cmd(settings: Settings, domain: str, service: str | None, key_type: str, bits: int,
                 selector: str | None, fmt: str) -> None:
    """Generate a key; it is published at once and used for signing after `dkim activate`."""
    new = create_key(settings.engine(), normalise_domain(domain), settings_secret(), service, KeyType(key_type), bits,
                     selector)
    steps: list[dict[str, Any]] = [
        {"step": s.kind.value,
         "publish": [{"name": r.name, "type": r.rtype.value, "value": r.value} for r in s.publish],
         "remove": list(s.remove), "wait_after_hours": s.wait_after.total_seconds() / 3600, "note": s.note}
        for s in new.plan.steps]
    if fmt == "json":
        emit_json({**_key_dict(new.key), "plan": steps})
        return
    click.echo(f"generated {new.key.key_type} key {new.key.selector} for {new.key.domain} ({new.key.bits} bits)")
    for n, step in enumerate(steps, 1):
        click.echo(f"{n}. {step['note']}")
        for record in step["publish"]:
            click.echo(f"   {record['name']}. IN {record['type']} {record['value']}")


@dkim_group.command("list")
@click.argument("domain")
@format_option
@click.pass_obj
def list_cmd(settings: Settings, domain: str, fmt: str) -> None:
    """DOMAIN's DKIM keys and their state."""
    keys = list_keys(settings.engine(), normalise_domain(domain))
    if fmt == "json":
        emit_json([_key_dict(k) for k in keys])
    else:
        emit_table(f"DKIM keys of {domain}", ("selector", "service", "type", "bits", "state", "created (UTC)"),
                   [(k.selector, k.service, k.key_type, k.bits, k.state.value, f"{k.created_at:%Y-%m-%d}")
                    for k in keys])


def _state_command(name: str, action: Any, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("domain")
    @click.argument("selector")
    @format_option
    @click.pass_obj
    def command(settings: Settings, domain: str, selector: str, fmt: str) -> None:
        key = action(settings.engine(), normalise_domain(domain), selector)
        if fmt == "json":
            emit_json(_key_dict(key))
        else:
            click.echo(f"{key.selector}: {key.state.value}")

    return command


dkim_group.add_command(_state_command("activate", activate, "Mark SELECTOR as the one the signer now uses."))
dkim_group.add_command(_state_command("revoke", revoke, "Publish SELECTOR with an empty p= (RFC 6376 §3.6.1)."))


@dkim_group.command("export")
@click.argument("domain")
@click.argument("selector")
@click.option("--seed", is_flag=True, help="Ed25519 only: the raw 32-byte seed in base64 instead of PEM.")
@click.option("--format", "fmt", type=click.Choice(["pem", "json"]), default="pem", show_default=True)
@click.pass_obj
def export_cmd(settings: Settings, domain: str, selector: str, seed: bool, fmt: str) -> None:
    """The private key of SELECTOR for the service that signs (handle with care)."""
    text = export_key(settings.engine(), normalise_domain(domain), selector, settings_secret(), seed)
    if fmt == "json":
        emit_json({"domain": normalise_domain(domain), "selector": selector, "key": text})
    else:
        click.echo(text, nl=False)
