"""``dmarcpilot check DOMAIN``: what the domain really publishes, judged by the RFCs and against dmarcpilot."""

from __future__ import annotations

import asyncio

import click

from dmarcpilot.cli.common import EXIT_ERROR, EXIT_OK, Settings, emit_json, emit_table, format_option
from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.policy.approvals import normalise_domain
from dmarcpilot.policy.posture import PostureReport, Severity, check_posture
from dmarcpilot.policy.publisher import publication
from dmarcpilot.store.publishing import list_keys


async def _check(settings: Settings, domain: str, nameservers: tuple[str, ...],
                 selectors: tuple[str, ...]) -> PostureReport:
    engine = settings.engine()
    # The last snapshots of the vendors' includes stand in: checking never refreshes the store.
    pub, _ = await publication(engine, domain, load_catalogue(), client=None)
    stored = [key.selector for key in list_keys(engine, domain)]
    client = ResolverClient(make_resolver(list(nameservers) or None))
    return await check_posture(domain, client, pub, selectors, stored)


@click.command("check")
@click.argument("domain")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Resolver to ask (repeatable); default: the system's.")
@click.option("--selector", "selectors", multiple=True, metavar="S",
              help="DKIM selector to look up (repeatable), besides the ones dmarcpilot holds for DOMAIN.")
@format_option
@click.pass_obj
def check_cmd(settings: Settings, domain: str, nameservers: tuple[str, ...], selectors: tuple[str, ...],
              fmt: str) -> None:
    """Check DOMAIN's SPF, DMARC, DKIM, MTA-STS and TLS-RPT records in the live DNS, and the drift from
    what dmarcpilot compiles for it.

    Exit code 0 when no finding is an error, 1 otherwise. The MTA-STS policy file is not fetched.
    """
    report = asyncio.run(_check(settings, normalise_domain(domain), nameservers, selectors))
    if fmt == "json":
        emit_json(report.to_dict())
    else:
        _print(report)
    raise SystemExit(EXIT_ERROR if report.has_errors else EXIT_OK)


def _print(report: PostureReport) -> None:
    spf, dmarc = report.spf, report.dmarc
    lookups = f"{spf.lookups} of 10 lookups, {spf.void_lookups} void" if spf.lookups is not None else ""
    rows: list[tuple[str, str, str, str]] = [
        ("SPF", spf.name, f"{len(spf.records)} record(s)", ", ".join(filter(None, [lookups, spf.all_term]))),
        ("DMARC", dmarc.found_at or dmarc.name, "fallback" if dmarc.fallback else ("found" if dmarc.record else "-"),
         dmarc.text or ""),
    ]
    rows += [("DMARC " + d.tag, d.uri, {True: "authorised", False: "not authorised", None: ""}[d.authorised],
              d.authorisation or "inside the organisational domain") for d in dmarc.destinations]
    rows += [("DKIM " + d.selector, d.name, d.state.value,
              " ".join(filter(None, [d.key_type.value if d.key_type else None, f"{d.bits} bits" if d.bits else None,
                                     "(" + ", ".join(s.value for s in d.sources) + ")"])))
             for d in report.dkim]
    rows += [("MTA-STS", report.mta_sts.name, report.mta_sts.state.value, report.mta_sts.record or ""),
             ("TLS-RPT", report.tls_rpt.name, report.tls_rpt.state.value, report.tls_rpt.record or "")]
    rows += [("drift", f"{d.name} {d.rdtype}", d.state.value, d.expected) for d in report.drift]
    emit_table(f"Posture of {report.domain}", ("check", "name", "state", "detail"), rows)
    shown = sorted((f for f in report.findings if f.severity is not Severity.OK), key=lambda f: -f.severity.rank)
    passed = len(report.findings) - len(shown)
    emit_table(f"Findings (worst: {report.worst.value}; {passed} ok not shown)", ("severity", "code", "message"),
               [(f.severity.value, f.code, f.message) for f in shown])
