"""What publishing keeps: domain settings, SPF snapshots, DKIM keys and zone serials."""

from __future__ import annotations

import enum
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.policy.approvals import SubjectKind
from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.policy.spftree import Capture, Expansion
from dmarcpilot.store.dialect import locked, upsert_insert
from dmarcpilot.store.schema import audit_log, dkim_keys, domain_settings, spf_snapshots, zone_serials

# -- settings ------------------------------------------------------------------------


def get_settings(engine: sa.Engine, domain: str) -> DomainSettings:
    """The domain's settings, or the defaults when none were saved."""
    domain = domain.lower().rstrip(".")
    with engine.connect() as conn:
        row = conn.execute(sa.select(domain_settings.c.settings).where(domain_settings.c.domain == domain)).first()
    if row is None:
        return DomainSettings(domain)
    data = row.settings if isinstance(row.settings, dict) else json.loads(row.settings)
    return DomainSettings.from_dict({**data, "domain": domain})


def configured_domains(engine: sa.Engine) -> list[str]:
    """Domains with publishing settings, sorted: the ones dmarcpilot serves and alerts for."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(domain_settings.c.domain).order_by(domain_settings.c.domain)).scalars())


def save_settings(engine: sa.Engine, settings: DomainSettings, actor: str, reason: str = "") -> list[str]:
    """Store the settings and audit what changed (one transaction); the same settings again change nothing.

    Returns the changes as "name: old -> new" texts (empty when nothing changed).
    """
    now = datetime.now(UTC)
    new = settings.to_dict()
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        query = sa.select(domain_settings.c.settings).where(domain_settings.c.domain == settings.domain)
        row = conn.execute(locked(conn, query)).first()
        old = DomainSettings(settings.domain).to_dict() if row is None else (
            row.settings if isinstance(row.settings, dict) else json.loads(row.settings))
        changes = [f"{name}: {_shown(old.get(name))} -> {_shown(value)}" for name, value in new.items()
                   if name != "domain" and old.get(name) != value]
        if row is not None and not changes:
            return []
        values = {"settings": new, "updated_by": actor, "updated_at": now}
        stmt = upsert_insert(conn, domain_settings).values(domain=settings.domain, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[domain_settings.c.domain], set_=values))
        conn.execute(audit_log.insert().values(
            at=now, actor=actor, domain=settings.domain, action="set" if row is not None else "create",
            subject_kind=SubjectKind.SETTINGS.value, subject="; ".join(changes) or "defaults", reason=reason,
            previous=None))
    return changes


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- SPF snapshots --------------------------------------------------------------------


class SnapshotKind(enum.Enum):
    INCLUDE = "include"  # a vendor's include domain
    OWN = "own"  # a domain's own terms


@dataclass(frozen=True)
class Snapshot:
    expansion: Expansion
    capture: Capture
    terms: str
    resolved_at: datetime


def save_snapshot(engine: sa.Engine, kind: SnapshotKind, subject: str, snapshot: Snapshot) -> None:
    exp = snapshot.expansion
    values = {"terms": snapshot.terms, "networks": [str(n) for n in exp.networks], "lookups": exp.lookups,
              "problem": exp.problem, "capture": snapshot.capture.to_json(), "resolved_at": snapshot.resolved_at}
    with engine.begin() as conn:
        stmt = upsert_insert(conn, spf_snapshots).values(kind=kind.value, subject=subject, **values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[spf_snapshots.c.kind, spf_snapshots.c.subject], set_=values))


def load_snapshots(engine: sa.Engine, kind: SnapshotKind, subjects: list[str]) -> dict[str, Snapshot]:
    t = spf_snapshots.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(spf_snapshots).where(t.kind == kind.value, t.subject.in_(subjects))).all()
    out = {}
    for r in rows:
        networks = r.networks if isinstance(r.networks, list) else json.loads(r.networks)
        expansion = Expansion(r.subject, tuple(ipaddress.ip_network(n) for n in networks), r.lookups, r.problem)
        out[r.subject] = Snapshot(expansion, Capture.from_json(r.capture), r.terms, r.resolved_at)
    return out


# -- DKIM keys ----------------------------------------------------------------------------


class KeyState(enum.Enum):
    PUBLISHED = "published"  # in DNS, the signer not switched yet
    ACTIVE = "active"  # the signer uses it
    REVOKED = "revoked"  # published with an empty p= (RFC 6376 §3.6.1)


@dataclass(frozen=True)
class StoredKey:
    domain: str
    selector: str
    service: str | None
    key_type: str
    bits: int
    record: str
    sealed_key: str
    state: KeyState
    created_at: datetime
    changed_at: datetime


def add_key(engine: sa.Engine, key: StoredKey) -> None:
    with engine.begin() as conn:
        conn.execute(dkim_keys.insert().values(
            domain=key.domain, selector=key.selector, service=key.service, key_type=key.key_type, bits=key.bits,
            record=key.record, sealed_key=key.sealed_key, state=key.state.value, created_at=key.created_at,
            changed_at=key.changed_at))


def list_keys(engine: sa.Engine, domain: str) -> list[StoredKey]:
    t = dkim_keys.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(dkim_keys).where(t.domain == domain).order_by(t.created_at, t.selector))
        return [StoredKey(r.domain, r.selector, r.service, r.key_type, r.bits, r.record, r.sealed_key,
                          KeyState(r.state), r.created_at, r.changed_at) for r in rows]


def set_key_state(engine: sa.Engine, domain: str, selector: str, state: KeyState, record: str | None = None) -> bool:
    t = dkim_keys.c
    values: dict[str, object] = {"state": state.value, "changed_at": datetime.now(UTC)}
    if record is not None:
        values["record"] = record
    with engine.begin() as conn:
        result = conn.execute(dkim_keys.update().where(t.domain == domain, t.selector == selector).values(**values))
    return bool(result.rowcount)


# -- zone serials ------------------------------------------------------------------------


def zone_serial(engine: sa.Engine, zone: str, digest: str, now: datetime | None = None) -> int:
    """The serial of ``zone`` for content ``digest``: unchanged content keeps it, any change increases it.

    Date-based (YYYYMMDDnn, RFC 1912 §2.2) while that grows, +1 beyond; one
    statement, so concurrent processes agree (the store is the only state).
    """
    today = int((now or datetime.now(UTC)).strftime("%Y%m%d")) * 100
    t = zone_serials.c
    with engine.begin() as conn:
        stmt = upsert_insert(conn, zone_serials).values(zone=zone, serial=today, digest=digest,
                                                        updated_at=datetime.now(UTC))
        changed = t.digest != stmt.excluded.digest
        stmt = stmt.on_conflict_do_update(index_elements=[t.zone], set_={
            "serial": sa.case((changed, sa.func.max(t.serial + 1, today) if conn.dialect.name == "sqlite"
                               else sa.func.greatest(t.serial + 1, today)), else_=t.serial),
            "digest": stmt.excluded.digest,
            "updated_at": sa.case((changed, stmt.excluded.updated_at), else_=t.updated_at),
        }).returning(t.serial)
        return int(conn.execute(stmt).scalar_one())
