"""Macro expansion (RFC 7208 §7) over a parsed :class:`~dmarcpilot.records.spf.MacroString`."""

from __future__ import annotations

import functools
import time
from urllib.parse import quote

from dmarcpilot.records.spf import Macro, MacroLetter, MacroString
from dmarcpilot.spf.context import CheckContext

MAX_NAME = 253  # RFC 7208 §7.3: "the maximum length of a domain name in this format"
MAX_LABEL = 63  # RFC 1035 §2.3.4


async def macro_value(macro: Macro, ctx: CheckContext, domain: str) -> str:
    """The value of a macro letter before transformers (RFC 7208 §7.2)."""
    letter = macro.letter
    if letter is MacroLetter.DOMAIN:
        return domain
    if letter is MacroLetter.SENDER:
        return ctx.sender
    if letter is MacroLetter.LOCAL_PART:
        return ctx.local_part
    if letter is MacroLetter.SENDER_DOMAIN:
        return ctx.sender_domain
    if letter is MacroLetter.IP:
        # §7.3: IPv6 "i" is the 32 nibbles, dot-separated. Upper-case hex as the RFC 7208 test suite
        # expects (v-macro-ip6); DNS names compare case-insensitively (RFC 4343).
        return ".".join(f"{ctx.ip_int:032X}") if ctx.v6 else str(ctx.ip)
    if letter is MacroLetter.IP_VERSION:
        return "ip6" if ctx.v6 else "in-addr"
    if letter is MacroLetter.HELO:
        return ctx.helo
    if letter is MacroLetter.PTR:
        # §7.3: a validated name, <domain> or a subdomain preferred; "unknown" when there is none.
        return await ctx.validated_name(domain) or "unknown"
    if letter is MacroLetter.CLIENT_IP:
        return str(ctx.ip)  # §7.3: IPv4 dotted quad, IPv6 in RFC 4291/5952 colon form
    if letter is MacroLetter.RECEIVER:
        return ctx.receiver
    return str(int(time.time()))  # TIMESTAMP


def transform(value: str, macro: Macro) -> str:
    """Split on the delimiters, reverse, keep the right-hand parts, join with "." (RFC 7208 §7.3)."""
    if macro.digits is None and not macro.reverse and not macro.delimiters:
        out = value
    else:
        if macro.delimiters:
            value = value.translate(_delimiter_table(macro.delimiters))
        parts = value.split(".")
        if macro.reverse:
            parts.reverse()
        if macro.digits is not None and macro.digits < len(parts):
            parts = parts[-macro.digits:]
        out = ".".join(parts)
    # §7.3: upper-case macros are URL-escaped: every character outside the unreserved set
    # (ALPHA / DIGIT / "-" / "." / "_" / "~") is percent-encoded.
    return quote(out, safe="") if macro.url_escape else out


@functools.lru_cache(maxsize=64)
def _delimiter_table(delimiters: str) -> dict[int, str]:
    return {ord(d): "." for d in delimiters}


async def expand(spec: MacroString, ctx: CheckContext, domain: str) -> str:
    """The text of ``spec`` with every macro expanded (RFC 7208 §7.3)."""
    if spec.literal is not None:
        return spec.literal
    out = []
    for part in spec.parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(transform(await macro_value(part, ctx, domain), part))
    return "".join(out)


async def expand_domain(spec: MacroString, ctx: CheckContext, domain: str) -> str | None:
    """A domain-spec expanded into a <target-name>, or ``None`` when no DNS name can be made of it."""
    if spec.literal is not None:
        return finish_domain(spec.literal)
    return finish_domain(await expand(spec, ctx, domain))


@functools.lru_cache(maxsize=4096)
def finish_domain(name: str) -> str | None:
    """Trailing dot dropped; names over 253 characters lose labels on the left (RFC 7208 §7.3).

    ``None`` when the result is no DNS name (an empty label or one longer
    than 63 octets, RFC 1035 §2.3.4, or non-ASCII text, which a macro can
    bring from the sender): RFC 7208 leaves that undefined; it is treated as
    a name that does not exist (compare §4.3), without a query.
    """
    if not name.isascii():
        return None
    if name.endswith("."):
        name = name[:-1]
    while len(name) > MAX_NAME and "." in name:
        name = name.split(".", 1)[1]
    if not name or len(name) > MAX_NAME:
        return None
    if any(not label or len(label) > MAX_LABEL for label in name.split(".")):
        return None
    return name
