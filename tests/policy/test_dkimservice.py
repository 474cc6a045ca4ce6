"""DKIM keys through the CLI: generated sealed, served through the hosted zone, rotated, revoked, exported."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from dmarcpilot.cli.main import cli
from dmarcpilot.records.dkim import DkimKeyRecord
from dmarcpilot.store.schema import dkim_keys

ENV = {"DMARCPILOT_SECRET": "correct horse battery staple"}


def run(db_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], env=env if env is not None else ENV)
    return result.exit_code, result.output


def test_generate_publish_rotate_revoke_export(sqlite_url: str) -> None:
    code, out = run(sqlite_url, "dkim", "generate", "example.edu", "--service", "mailchimp", "--format", "json")
    assert code == 0, out
    first = json.loads(out)
    assert first["selector"].startswith("dp") and first["selector"].endswith("-mailchimp")
    assert (first["type"], first["bits"], first["state"]) == ("rsa", 2048, "published")
    # a fresh key's plan: publish (TXT in the hosted zone + the domain's CNAME), then switch the signer
    assert [s["step"] for s in first["plan"]] == ["publish-new", "switch-signer"]
    published = {(r["type"], r["name"]): r["value"] for r in first["plan"][0]["publish"]}
    sel = first["selector"]
    assert published[("CNAME", f"{sel}._domainkey.example.edu")] == f"{sel}._domainkey._dmarcpilot.example.edu"
    assert run(sqlite_url, "dkim", "activate", "example.edu", sel)[0] == 0

    # the private key exported verifies signatures against the published record
    code, pem = run(sqlite_url, "dkim", "export", "example.edu", sel)
    assert code == 0 and pem.startswith("-----BEGIN PRIVATE KEY-----")
    private = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = DkimKeyRecord.from_text(first["record"]).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    signature = private.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())

    # the key is sealed at rest: no PEM in the database
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        sealed = conn.execute(sa.select(dkim_keys.c.sealed_key)).scalar_one()
    assert sealed.startswith("dpk1.") and "PRIVATE KEY" not in sealed

    # the records command serves it from the hosted zone
    code, out = run(sqlite_url, "records", "example.edu", "--offline", "--format", "json")
    records = json.loads(out)
    assert {"name": f"{sel}._domainkey.example.edu", "type": "CNAME", "ttl": 3600,
            "value": f"{sel}._domainkey._dmarcpilot.example.edu", "spf_lookups": None} in records["own_dns"]
    assert any(r["name"] == f"{sel}._domainkey._dmarcpilot.example.edu" and r["value"] == first["record"]
               for r in records["hosted_zone"])

    # a second key for the service: the plan rotates from the active one and ends revoking it
    code, out = run(sqlite_url, "dkim", "generate", "example.edu", "--service", "mailchimp", "--type", "ed25519",
                    "--format", "json")
    second = json.loads(out)
    assert second["selector"] != sel and second["type"] == "ed25519"
    assert [s["step"] for s in second["plan"]] == ["publish-new", "switch-signer", "revoke-old", "remove-old"]
    code, seed = run(sqlite_url, "dkim", "export", "example.edu", second["selector"], "--seed")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(__import__("base64").b64decode(seed))
    assert DkimKeyRecord.for_public_key(key.public_key()).to_text() == second["record"]

    code, out = run(sqlite_url, "dkim", "revoke", "example.edu", sel, "--format", "json")
    revoked = json.loads(out)
    assert revoked["state"] == "revoked" and DkimKeyRecord.from_text(revoked["record"]).revoked
    assert run(sqlite_url, "dkim", "export", "example.edu", sel)[0] != 0


@pytest.mark.parametrize("env", [{}, {"DMARCPILOT_SECRET": "another secret"}])
def test_secret_is_required_and_must_match(sqlite_url: str, env: dict[str, str]) -> None:
    code, out = run(sqlite_url, "dkim", "generate", "example.edu", "--format", "json")
    assert code == 0, out
    selector = json.loads(out)["selector"]
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "dkim", "export", "example.edu", selector], env=env)
    assert result.exit_code != 0
    assert "DMARCPILOT_SECRET" in str(result.exception) or "secret" in str(result.exception)
