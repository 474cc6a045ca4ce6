"""Delivering alerts: by mail (SMTP, RFC 5321) and by webhook (an HTTP POST of JSON)."""

from __future__ import annotations

import json
import smtplib
import socket
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from dmarcpilot.analysis.alerts import Alert
from dmarcpilot.errors import DmarcpilotError


class DeliveryError(DmarcpilotError):
    """An alert could not be delivered anywhere."""


@dataclass(frozen=True)
class SmtpSettings:
    """Outgoing mail for alerts: the ``[notify]`` settings (``settings.py``; ``DMARCPILOT_SMTP_*``).

    An empty ``sender`` means ``dmarcpilot@`` this host's name, looked up when a message is sent.
    """

    host: str = "localhost"
    port: int = 25
    sender: str = ""
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 20.0


def send_mail(settings: SmtpSettings, recipients: tuple[str, ...], alerts: list[Alert]) -> None:
    """One message listing the alerts (plain text; alert text is data, never markup)."""
    message = EmailMessage()
    message["From"] = settings.sender or f"dmarcpilot@{socket.getfqdn()}"
    message["To"] = ", ".join(recipients)
    domains = sorted({a.domain for a in alerts})
    message["Subject"] = f"dmarcpilot: {len(alerts)} alert{'s' if len(alerts) > 1 else ''} for {', '.join(domains)}"
    message.set_content("\n\n".join(f"[{a.kind.value}] {a.message}" for a in alerts) + "\n")
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user and settings.password:
            smtp.login(settings.user, settings.password)
        smtp.send_message(message, to_addrs=list(recipients))


def post_webhook(url: str, alerts: list[Alert], timeout: float = 10.0) -> None:
    body = json.dumps({"alerts": [a.to_dict() for a in alerts]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json",  # noqa: S310 - http(s) checked
                                                 "User-Agent": "dmarcpilot"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked in settings
        if not 200 <= response.status < 300:
            raise DeliveryError(f"webhook {url} answered {response.status}")
