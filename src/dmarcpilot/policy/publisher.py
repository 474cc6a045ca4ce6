"""From the store to a publication: approvals + catalogue + settings + snapshots + keys.

With a DNS client, vendors' includes are resolved now and the snapshots
updated (the refresh job); without one, the last snapshots stand in, and a
vendor never resolved stays an include as written. Compiling never fails
for lack of network.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.dnsclient import DnsClient
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.orgdomain import organizational_domain
from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.policy.publish import Publication, PublishedKey, build
from dmarcpilot.policy.spfcompile import Resolution, SpfPolicy, compile_spf, resolve
from dmarcpilot.policy.spfproof import prove
from dmarcpilot.policy.spftree import Capture, Expansion, IPNetwork
from dmarcpilot.records.dkim import DkimKeyRecord
from dmarcpilot.store.publishing import (
    KeyState,
    Snapshot,
    SnapshotKind,
    get_settings,
    list_keys,
    load_snapshots,
    save_snapshot,
)
from dmarcpilot.store.queries import decisions
from dmarcpilot.store.stages import current_stage

NOT_RESOLVED = "not resolved yet (no DNS and no snapshot): kept as an include"


def spf_policy(engine: sa.Engine, settings: DomainSettings, catalogue: Catalogue) -> SpfPolicy:
    """The SPF inputs: approved services' includes (from the catalogue) and approved networks."""
    services, networks = decisions(engine, settings.domain)
    approved = [catalogue.services[sid] for sid, decision in sorted(services.items())
                if decision == "approved" and sid in catalogue.services]
    includes = [inc for service in approved for inc in service.includes_to_publish]
    return SpfPolicy(settings.domain, settings.hosted_zone, tuple(includes),
                     tuple(ipaddress.ip_network(n) for n in networks),
                     SpfPolicy.parse_own_terms(settings.spf_own_terms), settings.spf_all, settings.spf_mode)


@dataclass(frozen=True)
class Change:
    """How an include's authorised addresses moved since the last snapshot."""

    include: str
    added: tuple[IPNetwork, ...]
    removed: tuple[IPNetwork, ...]
    problem: str | None


async def refresh(engine: sa.Engine, policy: SpfPolicy, client: DnsClient) -> tuple[Resolution, list[Change]]:
    """Resolve every include and the own terms now; store the snapshots; say what changed."""
    old = load_snapshots(engine, SnapshotKind.INCLUDE, list(policy.includes))
    resolution = await resolve(policy, client)
    now = datetime.now(UTC)
    changes = [keep_include(engine, name, exp, resolution.capture, old.get(name), now)
               for name, exp in resolution.includes.items()]
    own_terms = " ".join(t.to_text() for t in policy.own_terms)
    save_snapshot(engine, SnapshotKind.OWN, policy.domain, Snapshot(resolution.own, resolution.capture, own_terms, now))
    return _from_snapshots(engine, policy), changes


def keep_include(engine: sa.Engine, name: str, exp: Expansion, capture: Capture, before: Snapshot | None,
                 now: datetime) -> Change:
    """Store a fresh resolution of include ``name`` and say what changed.

    A vendor that fails to resolve now keeps its last good snapshot.
    """
    if exp.problem is not None and before is not None and before.expansion.problem is None:
        return Change(name, (), (), f"{exp.problem}; keeping the snapshot of {before.resolved_at:%Y-%m-%d}")
    previous = before.expansion.networks if before else ()
    save_snapshot(engine, SnapshotKind.INCLUDE, name, Snapshot(exp, capture, "", now))
    return Change(name, tuple(n for n in exp.networks if n not in set(previous)),
                  tuple(n for n in previous if n not in set(exp.networks)), exp.problem)


def _from_snapshots(engine: sa.Engine, policy: SpfPolicy) -> Resolution:
    snaps = load_snapshots(engine, SnapshotKind.INCLUDE, list(policy.includes))
    includes = {name: snaps[name].expansion if name in snaps else Expansion(name, (), 1, NOT_RESOLVED)
                for name in policy.includes}
    own_terms = " ".join(t.to_text() for t in policy.own_terms)
    own_snap = load_snapshots(engine, SnapshotKind.OWN, [policy.domain]).get(policy.domain)
    if own_snap is not None and own_snap.terms == own_terms:
        own = own_snap.expansion
    elif not any(t.needs_dns for t in policy.own_terms):
        own = Expansion(policy.domain, tuple(t.network for t in policy.own_terms if t.network is not None), 0)
    else:
        own = Expansion(policy.domain, (), sum(t.needs_dns for t in policy.own_terms), NOT_RESOLVED)
    capture = Capture()
    for snap in [*snaps.values(), *([own_snap] if own_snap else [])]:
        capture = capture.merged(snap.capture)
    return Resolution(includes, own, capture)


async def publication(engine: sa.Engine, domain: str, catalogue: Catalogue, client: DnsClient | None = None,
                      proof_sample: int = 200) -> tuple[Publication, list[Change]]:
    """Compile everything ``domain`` publishes; resolve vendors first when ``client`` is given."""
    settings = get_settings(engine, domain)
    policy = spf_policy(engine, settings, catalogue)
    changes: list[Change] = []
    if client is not None:
        resolution, changes = await refresh(engine, policy, client)
    else:
        resolution = _from_snapshots(engine, policy)
    compiled = compile_spf(policy, resolution)
    proof = await prove(compiled, resolution, sample=proof_sample)
    keys = [PublishedKey(k.selector, DkimKeyRecord.from_text(k.record)) for k in list_keys(engine, settings.domain)
            if k.state in (KeyState.PUBLISHED, KeyState.ACTIVE, KeyState.REVOKED)]
    stage = current_stage(engine, settings.domain)
    return build(settings, compiled, proof, keys, organizational_domain, stage), changes
