"""Who sends mail as the sample university, and how it authenticates.

Address ranges of the services are the ones their operators publish (see
each ``RANGES`` comment); where a vendor publishes its ranges only through
DNS that is not reachable here, a documentation prefix (RFC 5737) stands in
and is marked as such. DKIM and bounce domains follow the vendors'
documented defaults (the evidence in the service catalogue).
"""

from __future__ import annotations

import enum
import ipaddress
import random
from dataclasses import dataclass

DOMAIN = "university.example"


class Role(enum.Enum):
    SERVICE = "service"  # a cloud service the university uses
    OWN = "own"  # departmental servers on the university's network
    FORWARDER = "forwarder"  # alumni forwarding, mailing lists
    SPOOFER = "spoofer"
    UNKNOWN = "unknown"  # small vendors on public clouds, nobody knows them yet


@dataclass(frozen=True, slots=True)
class Auth:
    """One way a sender's messages authenticate (a share of its volume)."""

    share: float
    envelope: str  # envelope-from domain
    spf: str  # SPF result for the envelope domain
    dkim: tuple[tuple[str, str], ...] = ()  # (d=, result)


@dataclass(frozen=True, slots=True)
class Profile:
    key: str
    role: Role
    prefixes: tuple[str, ...]
    addresses: int  # how many source addresses at scale 1
    daily: float  # messages per address per working day
    auth: tuple[Auth, ...]
    active: float = 1.0  # chance an address sends on a given day
    receivers: int = 0  # 0: its mail reaches every receiver; n: each address reaches n receivers only


U = DOMAIN
PASS, FAIL, SOFT, NONE = "pass", "fail", "softfail", "none"

# Microsoft: Exchange Online endpoints 9/10 (learn.microsoft.com "Office 365 URLs and IP address ranges").
M365 = ("40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17")
# Google: _netblocks.google.com as published in DNS (support.google.com/a/answer/60764 points there).
GOOGLE = ("35.190.247.0/24", "64.233.160.0/19", "66.102.0.0/20", "74.125.0.0/16", "209.85.128.0/17")
# Amazon SES: the amazonses.com SPF record as quoted by AWS (aws.amazon.com/blogs/messaging-and-targeting).
SES = ("199.255.192.0/22", "199.127.232.0/22", "54.240.0.0/18")
# Mailchimp: servers.mcsv.net SPF record.
MAILCHIMP = ("205.201.128.0/20", "198.2.128.0/18", "148.105.8.0/21")
# Qualtrics: "Allowlisting external domains for Qualtrics use" (qualtrics.com/support).
QUALTRICS = ("98.97.248.0/21", "139.60.152.0/22", "162.247.216.0/22")
# Salesforce: the sample SPF record of Salesforce's own SPF article.
SALESFORCE = ("204.14.232.64/28", "204.14.234.64/28", "182.50.78.64/28")
# Stand-ins (RFC 5737 documentation prefixes): ServiceNow and SAP SuccessFactors publish their relays
# only through DNS (b/c/d.spf.service-now.com; per-customer SPF for SuccessFactors).
SERVICENOW = ("198.51.100.0/25",)
SUCCESSFACTORS = ("198.51.100.128/25",)
# The university's own network (documentation prefixes: the sample invents it).
CAMPUS = ("192.0.2.0/24", "203.0.113.0/24")

PROFILES: tuple[Profile, ...] = (
    # Staff and student mail: Exchange Online without custom DKIM (the tenant's onmicrosoft.com key),
    # SPF aligned through include:spf.protection.outlook.com.
    Profile("microsoft-365", Role.SERVICE, M365, 14, 3000, (
        Auth(1.0, U, PASS, (("universityexample.onmicrosoft.com", PASS),)),
    )),
    # The medical school on Google Workspace: default gappssmtp.com key, SPF aligned.
    Profile("google-workspace", Role.SERVICE, GOOGLE, 8, 400, (
        Auth(1.0, U, PASS, (("university-example.20230601.gappssmtp.com", PASS),)),
    )),
    # HR on SAP SuccessFactors: its own envelope, no DKIM for the university yet.
    Profile("sap-successfactors", Role.SERVICE, SUCCESSFACTORS, 4, 60, (
        Auth(1.0, "successfactors.example", PASS, ()),
    ), active=0.7),
    # IT service desk on ServiceNow: signed by service-now.com only (not aligned).
    Profile("servicenow", Role.SERVICE, SERVICENOW, 6, 120, (
        Auth(1.0, "service-now.com", PASS, (("service-now.com", PASS),)),
    )),
    # Newsletters on Mailchimp: custom DKIM set up (k1._domainkey CNAME), bounces to Mailchimp.
    Profile("mailchimp", Role.SERVICE, MAILCHIMP, 20, 400, (
        Auth(0.9, "mail205.atl121.mcsv.net", PASS, ((U, PASS), ("mcsv.net", PASS))),
        Auth(0.1, "mail205.atl121.mcsv.net", PASS, (("mcsv.net", PASS),)),
    ), active=0.35),
    # Research-office notifications through Amazon SES with Easy DKIM.
    Profile("amazon-ses", Role.SERVICE, SES, 10, 80, (
        Auth(1.0, "eu-west-1.amazonses.com", PASS, ((U, PASS), ("amazonses.com", PASS))),
    )),
    # Surveys: Qualtrics sending as the university without DKIM or SPF for it.
    Profile("qualtrics", Role.SERVICE, QUALTRICS, 6, 150, (
        Auth(1.0, "qemailserver.example", PASS, ()),
    ), active=0.5),
    # Admissions CRM on Salesforce: SPF include published, envelope aligned.
    Profile("salesforce", Role.SERVICE, SALESFORCE, 6, 200, (
        Auth(1.0, U, PASS, ()),
    )),
    # Departmental servers: most are in the SPF record, some old ones are not; few sign.
    Profile("campus-relays", Role.OWN, CAMPUS[:1], 8, 300, (
        Auth(1.0, U, PASS, ((U, PASS),)),
    )),
    Profile("departmental-servers", Role.OWN, CAMPUS[1:], 16, 25, (
        Auth(0.6, U, PASS, ()),
        Auth(0.4, U, FAIL, ()),
    ), active=0.8, receivers=4),
    # Forwarding: alumni addresses and lists re-send; SPF breaks, the university's DKIM survives.
    Profile("forwarders", Role.FORWARDER, (), 300, 6, (
        Auth(0.85, U, FAIL, ((U, PASS),)),
        Auth(0.15, U, SOFT, ((U, FAIL),)),
    ), active=0.25, receivers=1),
    Profile("pobox", Role.FORWARDER, (), 4, 15, (
        Auth(1.0, U, FAIL, ((U, PASS), ("pobox.com", PASS))),
    ), active=0.6),
    # Unknown small vendors on public clouds: their own domains pass, nothing aligned.
    Profile("cloud-vendors", Role.UNKNOWN, (), 25, 30, (
        Auth(1.0, "mailer.eventsvendor.example", PASS, (("eventsvendor.example", PASS),)),
    ), active=0.5, receivers=3),
    # Spoofers everywhere: nothing passes for the university.
    Profile("spoofers", Role.SPOOFER, (), 3500, 3, (
        Auth(0.6, U, FAIL, ()),
        Auth(0.25, U, SOFT, ()),
        Auth(0.15, "bulk-mailer.example", PASS, (("bulk-mailer.example", PASS),)),
    ), active=0.02, receivers=2),
)


def addresses_in(prefixes: tuple[str, ...], count: int, rng: random.Random) -> list[str]:
    """``count`` distinct addresses spread over ``prefixes``."""
    networks = [ipaddress.ip_network(p) for p in prefixes]
    chosen: dict[str, None] = {}
    limit = sum(n.num_addresses for n in networks)
    while len(chosen) < min(count, limit):
        network = rng.choice(networks)
        chosen[str(network[rng.randrange(network.num_addresses)])] = None
    return list(chosen)


def random_public(count: int, rng: random.Random, exclude: set[str]) -> list[str]:
    """Random globally routable IPv4 addresses."""
    out: dict[str, None] = {}
    while len(out) < count:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        text = str(address)
        if address.is_global and not address.is_multicast and text not in exclude:
            out[text] = None
    return list(out)
