"""Everything a domain publishes, as records: what its own DNS holds, and the zone dmarcpilot serves.

The organisation publishes a handful of records once (the SPF record, CNAMEs
for ``_dmarc``, DKIM selectors, ``_mta-sts`` and ``_smtp._tls``, an NS
delegation of the hosted zone); everything that changes with approvals,
keys and policy stages lives in the hosted zone, so no department has to
touch its DNS or mail servers again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.rdataclass
import dns.rdatatype
import dns.zone

from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.policy.spfcompile import CompiledSpf
from dmarcpilot.policy.spfproof import Proof
from dmarcpilot.policy.stages import Stage, StagePolicy
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.records.dkim import DkimKeyRecord, zone_txt
from dmarcpilot.records.dmarc import ReportUri, external_destination_records
from dmarcpilot.records.mtasts import MtaStsPolicy, MtaStsRecord
from dmarcpilot.records.tlsrpt import TlsRptRecord

SOA_TIMERS = (3600, 600, 1_209_600, 300)  # refresh, retry, expire, negative TTL (RFC 2308 §5)


@dataclass(frozen=True)
class PublishedKey:
    selector: str
    record: DkimKeyRecord  # revoked keys carry an empty p=


@dataclass(frozen=True)
class Publication:
    settings: DomainSettings
    spf: CompiledSpf
    proof: Proof
    own_dns: tuple[ZoneRecord, ...]  # to publish once in the organisation's DNS
    external: tuple[ZoneRecord, ...]  # for the owners of other domains receiving reports
    hosted: tuple[ZoneRecord, ...]  # the hosted zone, SOA and NS aside
    mta_sts_policy: str | None  # the policy file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt

    @property
    def warnings(self) -> tuple[str, ...]:
        out = list(self.spf.warnings)
        unresolved = [name for name, why in self.spf.kept if why.startswith("not resolved yet")]
        if unresolved:
            out.append(f"{len(unresolved)} include(s) never resolved ({', '.join(unresolved)}): the lookup count "
                       "counts each as one; run 'dmarcpilot spf refresh' where DNS is reachable")
        if not self.proof.holds:
            out.append(f"the compiled SPF record differs from the approvals for {len(self.proof.mismatches)} "
                       f"of {self.proof.checked} addresses checked: do not publish it")
        if not self.settings.nameservers:
            out.append("no name servers set for the hosted zone (dmarcpilot domain set --ns)")
        return tuple(out)


def build(settings: DomainSettings, spf: CompiledSpf, proof: Proof, keys: Iterable[PublishedKey],
          org_domain: Callable[[str], str | None], stage: Stage = Stage.NONE) -> Publication:
    """The publication; the DMARC record follows the domain's enforcement ``stage``."""
    keys = list(keys)
    hz, domain = settings.hosted_zone, settings.domain
    dmarc = StagePolicy(stage, settings.dmarc_sp, settings.dmarc_np, settings.dmarc_pct).record(
        _uris(settings.dmarc_rua, "rua"), _uris(settings.dmarc_ruf, "ruf"))
    hosted = [*spf.zone, ZoneRecord(f"_dmarc.{hz}", "TXT", dmarc.to_text())]
    own = [ZoneRecord(domain, "TXT", spf.record.to_text()), ZoneRecord(f"_dmarc.{domain}", "CNAME", f"_dmarc.{hz}")]
    for key in keys:
        hosted.append(ZoneRecord(f"{key.selector}._domainkey.{hz}", "TXT", key.record.to_text()))
        own.append(ZoneRecord(f"{key.selector}._domainkey.{domain}", "CNAME", f"{key.selector}._domainkey.{hz}"))
    policy_text = None
    if settings.mta_sts_mode is not None:
        policy = MtaStsPolicy(settings.mta_sts_mode, settings.mta_sts_mx, settings.mta_sts_max_age)
        policy_text = policy.to_text()
        # RFC 8461 §3.1: the id changes whenever the policy does
        policy_id = hashlib.sha256(policy_text.encode()).hexdigest()[:32]
        hosted.append(ZoneRecord(f"_mta-sts.{hz}", "TXT", MtaStsRecord(policy_id).to_text()))
        own.append(ZoneRecord(f"_mta-sts.{domain}", "CNAME", f"_mta-sts.{hz}"))
    if settings.tlsrpt_rua:
        hosted.append(ZoneRecord(f"_smtp._tls.{hz}", "TXT", TlsRptRecord(settings.tlsrpt_rua).to_text()))
        own.append(ZoneRecord(f"_smtp._tls.{domain}", "CNAME", f"_smtp._tls.{hz}"))
    own.extend(ZoneRecord(hz, "NS", ns) for ns in settings.nameservers)
    external = [ZoneRecord(name, "TXT", value)
                for name, value in external_destination_records(domain, dmarc.rua + dmarc.ruf, org_domain)]
    return Publication(settings, spf, proof, tuple(own), tuple(external), tuple(sorted(hosted)), policy_text)


def _uris(texts: tuple[str, ...], tag: str) -> tuple[ReportUri, ...]:
    return tuple(ReportUri.from_text(t, tag) for t in texts)


def digest(records: Iterable[ZoneRecord]) -> str:
    """A fingerprint of a zone's content: the serial changes exactly when it does."""
    text = "\n".join(f"{r.name} {r.ttl} {r.rdtype} {r.value}" for r in sorted(records))
    return hashlib.sha256(text.encode()).hexdigest()


def publication_digest(pub: Publication) -> str:
    """The digest a hosted zone's serial is taken for: its records and the apex (name servers, contact)."""
    apex = [ZoneRecord(r.name, r.rdtype, r.value.split(" ")[0] if r.rdtype == "SOA" else r.value, r.ttl)
            for r in zone_records(pub, 0)[: 1 + max(1, len(pub.settings.nameservers))]]
    return digest([*apex, *pub.hosted])


def zone_records(pub: Publication, serial: int) -> list[ZoneRecord]:
    """The hosted zone in full: SOA and NS at the apex, then the hosted records."""
    s = pub.settings
    primary = s.nameservers[0] if s.nameservers else f"ns.{s.hosted_zone}"
    soa = f"{primary}. hostmaster.{s.domain}. {serial} " + " ".join(str(t) for t in SOA_TIMERS)
    apex = [ZoneRecord(s.hosted_zone, "SOA", soa)]
    apex += [ZoneRecord(s.hosted_zone, "NS", f"{ns}.") for ns in (s.nameservers or (primary,))]
    return [*apex, *pub.hosted]


def master_file(origin: str, records: Iterable[ZoneRecord]) -> str:
    """RFC 1035 §5 master file text, written by dnspython (absolute names, TXT split into <=255-byte strings)."""
    zone = dns.zone.Zone(origin + ".", relativize=False)
    for record in records:
        value = zone_txt(record.value) if record.rdtype == "TXT" else _absolute(record)
        rdtype = dns.rdatatype.from_text(record.rdtype)
        rdataset = zone.find_rdataset(record.name + ".", rdtype, create=True)
        rdataset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=None), record.ttl)
    return zone.to_text(sorted=True, relativize=False)


def _absolute(record: ZoneRecord) -> str:
    if record.rdtype in ("CNAME", "NS") and not record.value.endswith("."):
        return record.value + "."
    return record.value
