"""SPF results from pyspf (Debian python3-spf), asking only the test DNS server.

    /usr/bin/python3 spf_pyspf.py PORT < checks

Run with the system Python, where Debian installs pyspf (not the project's
venv). Each input line is ``IP<TAB>SENDER<TAB>HELO``; each output line is
``IP<TAB>RESULT<TAB>EXPLANATION`` from ``spf.check2``. pyspf resolves
through pydns (python3-dns) or dnspython, whichever it imported; both are
pointed at 127.0.0.1:PORT here and never at the system resolver.
"""

import sys

import spf  # type: ignore[import-untyped,import-not-found,unused-ignore]  # pyspf, Debian python3-spf


def point_at(port: int) -> str:
    if spf.DNSLookup is spf.DNSLookup_pydns:
        import DNS  # type: ignore[import-not-found,unused-ignore]  # pydns, Debian python3-dns

        DNS.defaults["server"] = ["127.0.0.1"]
        DNS.defaults["port"] = port
        return "pydns"
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    dns.resolver.default_resolver = resolver
    return "dnspython"


def main() -> None:
    point_at(int(sys.argv[1]))
    for line in sys.stdin:
        if not line.strip():
            continue
        ip, sender, helo = line.rstrip("\n").split("\t")
        result, explanation = spf.check2(i=ip, s=sender, h=helo)
        print(f"{ip}\t{result}\t{' '.join(str(explanation).split())}", flush=True)


if __name__ == "__main__":
    main()
