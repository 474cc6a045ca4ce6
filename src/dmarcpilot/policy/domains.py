"""What an organisation publishes for one domain, besides its approvals: the domain's settings.

Kept in the store (``domain_settings``), so every dmarcpilot process of a
shared deployment compiles the same records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.policy.spfcompile import SpfMode, SpfPolicy
from dmarcpilot.records.dmarc import Policy, ReportUri
from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.mtasts import Mode
from dmarcpilot.records.names import is_hostname
from dmarcpilot.records.spf import Qualifier
from dmarcpilot.records.tlsrpt import TlsRptRecord

HOSTED_PREFIX = "_dmarcpilot"
ALL_QUALIFIERS = {"~": Qualifier.SOFTFAIL, "-": Qualifier.FAIL, "?": Qualifier.NEUTRAL}


class SettingsError(DmarcpilotError):
    """A domain setting that cannot be used."""


@dataclass(frozen=True)
class DomainSettings:
    """Per-domain publishing settings; every field has a working default.

    ``hosted_zone``: the zone dmarcpilot serves for the domain (the domain
    delegates it by NS and points ``_dmarc``, DKIM selectors, ``_mta-sts``
    and ``_smtp._tls`` at it by CNAME); default ``_dmarcpilot.DOMAIN``.
    """

    domain: str
    hosted_zone: str = ""
    spf_own_terms: tuple[str, ...] = ()
    spf_mode: SpfMode = SpfMode.AUTO
    spf_all: Qualifier = Qualifier.SOFTFAIL
    dmarc_sp: Policy | None = None  # subdomains; None: as p (the stage's policy)
    dmarc_np: Policy | None = None  # non-existent subdomains (RFC 9989); None: as sp
    dmarc_pct: int | None = None  # RFC 7489 receivers' ramp; None: not published (100)
    dmarc_rua: tuple[str, ...] = ()
    dmarc_ruf: tuple[str, ...] = ()
    mta_sts_mode: Mode | None = None  # None: no MTA-STS published
    mta_sts_mx: tuple[str, ...] = ()
    mta_sts_max_age: int = 604_800  # one week, the RFC 8461 §3.2 example's order of magnitude
    tlsrpt_rua: tuple[str, ...] = ()
    nameservers: tuple[str, ...] = field(default=())  # NS names of the DNS servers serving the hosted zone
    alert_email: tuple[str, ...] = ()  # addresses that receive alerts
    alert_webhook: tuple[str, ...] = ()  # https:// (or http:// on loopback) URLs that receive alerts as JSON

    def __post_init__(self) -> None:
        domain = self.domain.lower().rstrip(".")
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "hosted_zone", (self.hosted_zone or f"{HOSTED_PREFIX}.{domain}").lower().rstrip("."))
        for name in (self.domain, *self.nameservers, *self.mta_sts_mx):
            if not is_hostname(name.removeprefix("*.")):
                raise SettingsError(f"{self.domain}: {name!r} is not a host name")
        try:
            for uri in (*self.dmarc_rua, *self.dmarc_ruf):
                ReportUri.from_text(uri)
            if self.tlsrpt_rua:
                TlsRptRecord(self.tlsrpt_rua)
            SpfPolicy(domain, self.hosted_zone, own_terms=SpfPolicy.parse_own_terms(self.spf_own_terms))
        except (RecordError, DmarcpilotError) as exc:
            raise SettingsError(f"{self.domain}: {exc}") from None
        for url in self.alert_webhook:
            if not url.startswith(("https://", "http://")):
                raise SettingsError(f"{self.domain}: webhook {url!r} is not an http(s) URL")
        for address in self.alert_email:
            if "@" not in address or not is_hostname(address.rpartition("@")[2]):
                raise SettingsError(f"{self.domain}: {address!r} is not a mail address")
        if self.dmarc_pct is not None and not 0 <= self.dmarc_pct <= 100:
            raise SettingsError(f"{self.domain}: pct is 0 to 100 (RFC 7489 §6.3)")
        if self.mta_sts_mode not in (None, Mode.NONE) and not self.mta_sts_mx:
            raise SettingsError(f"{self.domain}: MTA-STS in {self.mta_sts_mode.value} mode needs the MX patterns "
                                "(RFC 8461 §3.2)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spf_mode"] = self.spf_mode.value
        out["spf_all"] = self.spf_all.value
        out["dmarc_sp"] = self.dmarc_sp.value if self.dmarc_sp else None
        out["dmarc_np"] = self.dmarc_np.value if self.dmarc_np else None
        out["mta_sts_mode"] = self.mta_sts_mode.value if self.mta_sts_mode else None
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainSettings:
        values = dict(data)
        values["spf_mode"] = SpfMode(values.get("spf_mode", "auto"))
        values["spf_all"] = Qualifier(values.get("spf_all", "~"))
        for key in ("dmarc_sp", "dmarc_np"):
            values[key] = Policy(values[key]) if values.get(key) else None
        values["mta_sts_mode"] = Mode(values["mta_sts_mode"]) if values.get("mta_sts_mode") else None
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**kwargs)

    def updated(self, **changes: Any) -> DomainSettings:
        return replace(self, **changes)
