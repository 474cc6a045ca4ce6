"""A year of aggregate reports for ``university.example``, deterministic for a seed.

Thousands of sources (services, departmental servers, forwarders, spoofers
in well over a hundred countries), reported daily by receivers shaped like
Google, Microsoft, Yahoo, Mimecast and others: each with its own file name,
compression and XML habits. Same seed, end date and scale: same bytes.
"""

from __future__ import annotations

import gzip
import io
import math
import random
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.samplegen.senders import DOMAIN, PROFILES, Auth, Profile, addresses_in, random_public


@dataclass(frozen=True, slots=True)
class Reporter:
    org: str
    email: str
    file_domain: str  # first part of the file name
    share: float  # share of the university's outbound mail this receiver sees
    packing: str  # "zip" | "gz" | "xml"
    style: str  # "google" | "microsoft" | "yahoo" | "plain" | "rfc9990"


REPORTERS = (
    Reporter("google.com", "noreply-dmarc-support@google.com", "google.com", 0.34, "zip", "google"),
    Reporter("Enterprise Outlook", "dmarcreport@microsoft.com", "enterprise.protection.outlook.com", 0.28, "gz",
             "microsoft"),
    Reporter("Outlook.com", "dmarcreport@microsoft.com", "protection.outlook.com", 0.08, "gz", "microsoft"),
    Reporter("Yahoo", "dmarchelp@yahooinc.com", "yahoo.com", 0.06, "gz", "yahoo"),
    Reporter("Mimecast", "dmarc-report@mimecast.org", "mimecast.org", 0.08, "gz", "plain"),
    Reporter("Mail.Ru", "dmarc_support@corp.mail.ru", "mail.ru", 0.02, "gz", "plain"),
    Reporter("Yandex", "dmarc_support@yandex.ru", "yandex.ru", 0.02, "gz", "plain"),
    Reporter("Fastmail Pty Ltd", "dmarc-reports@fastmail.com", "fastmail.com", 0.02, "xml", "rfc9990"),
    Reporter("GMX", "dmarc-reports@gmx.net", "gmx.net", 0.03, "gz", "plain"),
    Reporter("comcast.net", "dmarc_reports@comcast.net", "comcast.net", 0.03, "zip", "plain"),
)


@dataclass(frozen=True, slots=True)
class Source:
    ip: str
    profile: Profile
    weight: float  # this address's share of its profile's volume (relative)
    receivers: frozenset[str] | None  # the receivers (file domains) its mail reaches; None: all


@dataclass(frozen=True, slots=True)
class Row:
    ip: str
    count: int
    auth: Auth


def receivers(extra: int = 0) -> tuple[Reporter, ...]:
    """The named receivers, plus ``extra`` smaller ones (ISPs, companies, universities) for bigger samples."""
    more = tuple(Reporter(f"Receiver {n}", f"dmarc@receiver{n}.example", f"receiver{n}.example", 0.02, "gz",
                          "plain") for n in range(1, extra + 1))
    return REPORTERS + more


def sources(seed: int, scale: float, ipdb: IpDatabase | None = None,
            reporters: tuple[Reporter, ...] = REPORTERS) -> list[Source]:
    """Every sending address, in a fixed order."""
    rng = random.Random(f"sources-{seed}")
    out: list[Source] = []
    taken: set[str] = set()
    for profile in PROFILES:
        count = max(1, round(profile.addresses * scale))
        if profile.prefixes:
            ips = addresses_in(profile.prefixes, count, rng)
        else:
            ips = _spread_over_countries(count, rng, taken, ipdb)
        taken.update(ips)
        names = [r.file_domain for r in reporters]
        weights = [r.share for r in reporters]
        for ip in ips:
            reach = (frozenset(rng.choices(names, weights, k=profile.receivers)) if profile.receivers else None)
            out.append(Source(ip, profile, min(rng.paretovariate(1.6), 12.0), reach))
    return out


def _spread_over_countries(count: int, rng: random.Random, taken: set[str], ipdb: IpDatabase | None) -> list[str]:
    """Addresses in as many countries as possible (botnets, forwarders and clouds are everywhere).

    With an IP database, candidates on announced networks are drawn at random
    and taken round-robin by country, so small countries are represented;
    without one, plain random addresses.
    """
    if ipdb is None or not ipdb.available:
        return random_public(count, rng, taken)
    by_country: dict[str, list[str]] = defaultdict(list)
    for ip in random_public(count * 12, rng, taken):
        info = ipdb.lookup(ip)
        if info.country and info.asn:
            by_country[info.country].append(ip)
    queues = [by_country[c] for c in sorted(by_country)]
    out: list[str] = []
    while len(out) < count and any(queues):
        for queue in queues:
            if queue and len(out) < count:
                out.append(queue.pop())
    return out


def _seasonal(day: date) -> float:
    """Term time is busy; weekends, summer and the winter break are quiet."""
    factor = 0.35 if day.weekday() >= 5 else 1.0
    if day.month in (7, 8):
        factor *= 0.55
    if (day.month == 12 and day.day >= 22) or (day.month == 1 and day.day <= 3):
        factor *= 0.3
    return factor


def _poisson(rng: random.Random, mean: float) -> int:
    if mean < 30:
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def reaching(all_sources: list[Source], reporter: Reporter) -> list[Source]:
    """The sources whose mail this receiver can see (all but those bound to other receivers)."""
    return [s for s in all_sources if s.receivers is None or reporter.file_domain in s.receivers]


def day_rows(candidates: list[Source], day: date, reporter: Reporter, seed: int) -> list[Row]:
    """The records one receiver reports for one day (``candidates``: ``reaching(sources, reporter)``)."""
    rng = random.Random(f"{seed}-{day.isoformat()}-{reporter.file_domain}")
    season = _seasonal(day)
    rows = []
    for source in candidates:
        profile = source.profile
        if profile.active < 1.0 and rng.random() >= profile.active:
            continue
        share = reporter.share if source.receivers is None else 1.0 / len(source.receivers)
        mean = profile.daily * source.weight * season * share
        for auth in profile.auth:
            count = _poisson(rng, mean * auth.share)
            if count:
                rows.append(Row(source.ip, count, auth))
    return rows


# -- XML, as each receiver writes it --------------------------------------------------------------------

def _record(row: Row, style: str) -> str:
    auth = row.auth
    dkim_aligned = any(d == DOMAIN and r == "pass" for d, r in auth.dkim)
    spf_aligned = auth.spf == "pass" and (auth.envelope == DOMAIN or auth.envelope.endswith("." + DOMAIN))
    dkim_results = "".join(
        f"<dkim><domain>{escape(d)}</domain>"
        + (f"<selector>{'selector1' if 'onmicrosoft' in d else 's1'}</selector>" if style != "yahoo" else "")
        + f"<result>{r}</result></dkim>"
        for d, r in auth.dkim
    )
    envelope_to = "<envelope_to>recipient.example</envelope_to>" if style == "microsoft" else ""
    envelope_from = f"<envelope_from>{escape(auth.envelope)}</envelope_from>" if style != "google" else ""
    scope = "" if style == "yahoo" else "<scope>mfrom</scope>"
    return (
        f"<record><row><source_ip>{row.ip}</source_ip><count>{row.count}</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>{'pass' if dkim_aligned else 'fail'}</dkim>"
        f"<spf>{'pass' if spf_aligned else 'fail'}</spf></policy_evaluated></row>"
        f"<identifiers>{envelope_to}{envelope_from}<header_from>{DOMAIN}</header_from></identifiers>"
        f"<auth_results>{dkim_results}<spf><domain>{escape(auth.envelope)}</domain>{scope}"
        f"<result>{auth.spf}</result></spf></auth_results></record>\n"
    )


def _day_start(day: date) -> int:
    """The UTC midnight starting ``day``, as a Unix time (reports cover whole UTC days)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def report_xml(reporter: Reporter, day: date, rows: list[Row], report_id: str) -> bytes:
    begin = _day_start(day)
    end = begin + 86399
    root = {
        "microsoft": '<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                     'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "rfc9990": '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">',
    }.get(reporter.style, "<feedback>")
    version = "<version>1.0</version>" if reporter.style in ("microsoft", "google") else ""
    extra = ("<extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>"
             if reporter.style == "google" else "")
    np = "<np>none</np>" if reporter.style in ("google", "rfc9990") else ""
    pct = "" if reporter.style == "rfc9990" else "<pct>100</pct>"
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{root}\n{version}<report_metadata>'
        f"<org_name>{escape(reporter.org)}</org_name><email>{reporter.email}</email>{extra}"
        f"<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{end}</end></date_range>"
        f"</report_metadata>\n<policy_published><domain>{DOMAIN}</domain><adkim>r</adkim><aspf>r</aspf>"
        f"<p>none</p><sp>none</sp>{np}{pct}</policy_published>\n"
    )
    return (head + "".join(_record(r, reporter.style) for r in rows) + "</feedback>\n").encode()


def _pack(reporter: Reporter, name: str, xml: bytes, day: date) -> tuple[str, bytes]:
    if reporter.packing == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(name + ".xml", date_time=(day.year, day.month, day.day, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, xml)
        return name + ".zip", buffer.getvalue()
    if reporter.packing == "gz":
        return name + ".xml.gz", gzip.compress(xml, mtime=0)
    return name + ".xml", xml


@dataclass(frozen=True, slots=True)
class Generated:
    files: int
    records: int
    messages: int
    sources: int


def generate(out: Path, *, seed: int = 1, end: date = date(2026, 11, 30), days: int = 365, scale: float = 1.0,
             extra_receivers: int = 0, ipdb: IpDatabase | None = None) -> Generated:
    """Write one report per receiver and day into ``out``; returns the totals."""
    out.mkdir(parents=True, exist_ok=True)
    reporters = receivers(extra_receivers)
    all_sources = sources(seed, scale, ipdb, reporters)
    files = records = messages = 0
    for day, reporter, rows in _reports(all_sources, reporters, end, days, seed):
        begin = _day_start(day)
        name = f"{reporter.file_domain}!{DOMAIN}!{begin}!{begin + 86399}"
        report_id = f"{_stable_id(seed, reporter.org)}-{day.strftime('%Y%m%d')}"
        filename, data = _pack(reporter, name, report_xml(reporter, day, rows, report_id), day)
        (out / filename).write_bytes(data)
        files += 1
        records += len(rows)
        messages += sum(r.count for r in rows)
    return Generated(files, records, messages, len(all_sources))


def _reports(all_sources: list[Source], reporters: tuple[Reporter, ...], end: date, days: int,
             seed: int) -> Iterator[tuple[date, Reporter, list[Row]]]:
    candidates = {r.file_domain: reaching(all_sources, r) for r in reporters}
    for offset in range(days - 1, -1, -1):
        day = end - timedelta(days=offset)
        for reporter in reporters:
            rows = day_rows(candidates[reporter.file_domain], day, reporter, seed)
            if rows:
                yield day, reporter, rows


def _stable_id(seed: int, org: str) -> str:
    return f"{random.Random(f'{seed}-{org}').getrandbits(48):012x}"
