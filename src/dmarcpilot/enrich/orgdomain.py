"""Organisational domains (RFC 9989 section 4.10, with the Public Suffix List).

RFC 9989 replaces the PSL with a DNS tree walk (``enrich.treewalk``, which
needs a resolver). Offline, the PSL (``publicsuffixlist``, which ships the
list) gives the same answer for every registered domain under a public
suffix, and is what RFC 7489 receivers use.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList(accept_unknown=True, only_icann=False)


@lru_cache(maxsize=65536)
def organizational_domain(domain: str) -> str | None:
    """The registered domain one label below its public suffix, or None.

    ``mail.example.co.uk`` -> ``example.co.uk``; a public suffix itself
    (``co.uk``) or an empty name has none.
    """
    name = domain.strip().rstrip(".").lower()
    if not name or ".." in name:
        return None
    result: str | None = _PSL.privatesuffix(name)
    return result


def is_aligned(a: str, b: str, strict: bool = False) -> bool:
    """Identifier alignment (RFC 9989 section 4.4): same name, or same organisational domain."""
    x, y = a.strip().rstrip(".").lower(), b.strip().rstrip(".").lower()
    if strict or x == y:
        return x == y
    org = organizational_domain(x)
    return org is not None and org == organizational_domain(y)
