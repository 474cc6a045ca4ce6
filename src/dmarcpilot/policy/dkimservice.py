"""DKIM keys per domain and service: generate and store sealed, switch, revoke, export.

The private key never reaches the store unsealed; the secret comes from the
settings (``DMARCPILOT_SECRET`` or ``DMARCPILOT_SECRET_FILE``). The records
are served from the hosted zone, and the domain publishes one CNAME per
selector (``policy.publish``), so a key can be rotated without touching the
domain's DNS again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.policy.dkimkeys import (
    DEFAULT_RSA_BITS,
    DkimKeyError,
    DkimKeyPair,
    RotationPlan,
    dkim_selector,
    generate_key,
    rotation_plan,
    seal,
    unseal,
)
from dmarcpilot.records.dkim import DkimKeyRecord, KeyType
from dmarcpilot.store.publishing import KeyState, StoredKey, add_key, get_settings, list_keys, set_key_state


@dataclass(frozen=True)
class NewKey:
    key: StoredKey
    plan: RotationPlan


def create_key(engine: sa.Engine, domain: str, secret: str, service: str | None = None,
               key_type: KeyType = KeyType.RSA, bits: int = DEFAULT_RSA_BITS, selector: str | None = None,
               now: datetime | None = None) -> NewKey:
    """A new key, sealed and stored as published (not yet signing), and the plan to bring it into use.

    When the service already has an active key, the plan rotates from it
    (RFC 6376 §3.6.1: the old selector is revoked with an empty ``p=``).
    """
    now = now or datetime.now(UTC)
    existing = list_keys(engine, domain)
    taken = {k.selector for k in existing}
    if selector is None:
        selector = next(s for s in (dkim_selector(now.date(), service, n) for n in range(1, 27)) if s not in taken)
    elif selector in taken:
        raise DkimKeyError(f"selector {selector!r} already exists for {domain}")
    pair = generate_key(key_type, bits)
    stored = StoredKey(domain, selector, service, key_type.value, pair.bits, pair.record.to_text(),
                       seal(pair.pkcs8_pem(), secret), KeyState.PUBLISHED, now, now)
    add_key(engine, stored)
    old = next((k for k in reversed(existing) if k.service == service and k.state is KeyState.ACTIVE), None)
    hz = get_settings(engine, domain).hosted_zone
    plan = rotation_plan(domain, selector, pair.record, old.selector if old else None,
                         DkimKeyRecord.from_text(old.record) if old else None, service_zone=f"_domainkey.{hz}")
    return NewKey(stored, plan)


def _key(engine: sa.Engine, domain: str, selector: str) -> StoredKey:
    for key in list_keys(engine, domain):
        if key.selector == selector:
            return key
    raise DkimKeyError(f"no DKIM key {selector!r} for {domain}")


def activate(engine: sa.Engine, domain: str, selector: str) -> StoredKey:
    """The signer now uses ``selector``."""
    key = _key(engine, domain, selector)
    if key.state is KeyState.REVOKED:
        raise DkimKeyError(f"{selector} is revoked: generate a new key instead")
    set_key_state(engine, domain, selector, KeyState.ACTIVE)
    return _key(engine, domain, selector)


def revoke(engine: sa.Engine, domain: str, selector: str) -> StoredKey:
    """Publish ``selector`` with an empty ``p=`` (RFC 6376 §3.6.1): signatures by it no longer verify."""
    key = _key(engine, domain, selector)
    set_key_state(engine, domain, selector, KeyState.REVOKED, DkimKeyRecord.from_text(key.record).revoke().to_text())
    return _key(engine, domain, selector)


def export_key(engine: sa.Engine, domain: str, selector: str, secret: str, seed: bool = False) -> str:
    """The private key for the service that signs: PKCS#8 PEM, or the raw Ed25519 seed in base64."""
    key = _key(engine, domain, selector)
    if key.state is KeyState.REVOKED:
        raise DkimKeyError(f"{selector} is revoked; its private key is not handed out any more")
    pair = DkimKeyPair.from_private_pem(unseal(key.sealed_key, secret))
    return pair.ed25519_seed() + "\n" if seed else pair.pkcs8_pem().decode("ascii")
