"""Obtain the IPinfo Lite MMDB from the package registry.

IPinfo Lite (country, ASN, AS name and domain for IPv4 and IPv6; CC BY-SA
4.0) is the freshest IP data reachable from PyPI: it ships inside the
parsedmarc wheel. Only the ``.mmdb`` is taken out of the downloaded wheel;
no parsedmarc code is installed or run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import maxminddb

from dmarcpilot.enrich.ipdata import IpDataError

WHEEL = "parsedmarc==11.1.0"
MEMBER = "parsedmarc/resources/ipinfo/ipinfo_lite.mmdb"
FILENAME = "ipinfo_lite.mmdb"
MAX_BYTES = 512 * 1024 * 1024
ATTRIBUTION = """\
ipinfo_lite.mmdb: IP address data powered by IPinfo (https://ipinfo.io/lite),
licensed under the Creative Commons Attribution-ShareAlike 4.0 International
licence (CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/).
Taken unchanged from the {wheel} wheel on PyPI, which redistributes it.
"""


def data_dir() -> Path:
    """``$DMARCPILOT_DATA_DIR``, else ``$XDG_DATA_HOME/dmarcpilot``, else ``~/.local/share/dmarcpilot``."""
    if os.environ.get("DMARCPILOT_DATA_DIR"):
        return Path(os.environ["DMARCPILOT_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dmarcpilot"


def default_ip_databases() -> list[Path]:
    """``$DMARCPILOT_IP_DATABASE`` (paths separated by ``os.pathsep``), else IPinfo Lite in ``data_dir()``."""
    configured = os.environ.get("DMARCPILOT_IP_DATABASE")
    if configured:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    return [data_dir() / FILENAME]


def extract_from_wheel(wheel: Path, target: Path) -> Path:
    """Copy the MMDB out of a parsedmarc wheel to ``target`` (atomic), with its credit."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            info = archive.getinfo(MEMBER)
            if info.file_size > MAX_BYTES:
                raise IpDataError(f"{wheel}: {MEMBER} claims {info.file_size} bytes, more than {MAX_BYTES}")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".ipinfo-", suffix=".mmdb")
            with os.fdopen(fd, "wb") as out, archive.open(info) as member:
                shutil.copyfileobj(member, out, 1024 * 1024)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise IpDataError(f"{wheel}: no usable {MEMBER} ({exc})") from None
    try:
        maxminddb.open_database(tmp).close()
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        os.unlink(tmp)
        raise IpDataError(f"{wheel}: {MEMBER} is not a valid MMDB ({exc})") from None
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the data is public
    os.replace(tmp, target)
    (target.parent / (target.name + ".NOTICE")).write_text(ATTRIBUTION.format(wheel=WHEEL))
    return target


def download_wheel(directory: Path) -> Path:
    """``pip download --no-deps`` the parsedmarc wheel (the network edge)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               WHEEL, "--dest", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    wheels = sorted(directory.glob("parsedmarc-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise IpDataError(f"pip download {WHEEL} failed: {last}")
    return wheels[0]


def fetch_ipinfo_lite(target: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="dmarcpilot-ipdata-") as tmp:
        return extract_from_wheel(download_wheel(Path(tmp)), target)
