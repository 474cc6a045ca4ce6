from __future__ import annotations

import pytest

from dmarcpilot.enrich.orgdomain import is_aligned, organizational_domain


@pytest.mark.parametrize(("name", "org"), [
    ("example.com", "example.com"),
    ("mail.example.com", "example.com"),
    ("a.b.c.example.co.uk", "example.co.uk"),
    ("Bounce.Example.COM.", "example.com"),
    ("university.ac.uk", "university.ac.uk"),
    ("dept.university.ac.uk", "university.ac.uk"),
    ("co.uk", None),
    ("com", None),
    ("", None),
    # private suffixes count (only_icann=False): a customer of a hosting suffix is its own org
    ("customer.github.io", "customer.github.io"),
])
def test_organizational_domain(name: str, org: str | None) -> None:
    assert organizational_domain(name) == org


def test_relaxed_and_strict_alignment() -> None:
    # RFC 9989 section 4.4: relaxed = same organisational domain
    assert is_aligned("bounce.example.com", "example.com")
    assert not is_aligned("bounce.example.com", "example.com", strict=True)
    assert is_aligned("EXAMPLE.com.", "example.com", strict=True)
    assert not is_aligned("example.com", "example.net")
    assert not is_aligned("a.github.io", "b.github.io")  # different registrants under a private suffix
