"""`classroom-box tls init`: a local CA and a server certificate for the box, via openssl(1).
It must never run on the server's event loop; it shells out to openssl(1).

HTTPS is optional. It matters for schools that push a CA to managed devices: browsers then allow
the service worker and the install prompt on the box's LAN address. We make our own small CA
(kept in the data dir, reused on every rerun so devices that trust it keep trusting it) and issue
a server certificate for the box's names and IPs (reissued on every run, since IPs change).

The `openssl` command line ships with Debian and Raspberry Pi OS, so no Python crypto dependency
is needed. This runs from the CLI, never on the server's event loop.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

CA_DAYS = 3650
CERT_DAYS = 825  # Apple platforms reject TLS server certificates valid for longer
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class TlsError(RuntimeError):
    """openssl failed or a name/IP is invalid; the message says which."""


@dataclass(frozen=True)
class TlsPaths:
    """Files under `<data_dir>/tls/`. Only `ca_cert` is meant to leave the box."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def tls_paths(data_dir: Path) -> TlsPaths:
    """Where init_tls puts (or has put) the files, without creating anything."""
    directory = Path(data_dir) / "tls"
    return TlsPaths(directory, directory / "ca.crt", directory / "ca.key",
                    directory / "server.crt", directory / "server.key")


def _openssl(*args: str) -> str:
    try:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                                umask=0o077, check=False)  # keys are born private
    except FileNotFoundError as exc:
        raise TlsError("the `openssl` command is missing (apt install openssl)") from exc
    if result.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _subject_alt_names(hostnames: list[str], ips: list[str]) -> str:
    entries: list[str] = []
    for name in hostnames:
        name = name.rstrip(".")
        if not _DNS_NAME.match(name):
            raise TlsError(f"not a valid host name: {name!r}")
        if f"DNS:{name}" not in entries:
            entries.append(f"DNS:{name}")
    for ip in ips:
        try:
            entry = f"IP:{ipaddress.ip_address(ip)}"
        except ValueError as exc:
            raise TlsError(f"not a valid IP address: {ip!r}") from exc
        if entry not in entries:
            entries.append(entry)
    if not entries:
        raise TlsError("a certificate needs at least one host name or IP")
    return ",".join(entries)


def _make_ca(paths: TlsPaths, label: str) -> None:
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-sha256", "-days", str(CA_DAYS), "-keyout", str(paths.ca_key),
             "-out", str(paths.ca_cert), "-subj", f"/O=classroom-box/CN=classroom-box CA {label}",
             "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")


def init_tls(data_dir: Path, hostnames: list[str], ips: list[str]) -> TlsPaths:
    """Create (or keep) the CA and issue a fresh server certificate for `hostnames` and `ips`.

    Returns the paths; pass `cert`/`key` to `serve --tls-cert/--tls-key` and hand `ca_cert` to
    IT. Blocking (runs openssl): call it from the CLI or via asyncio.to_thread.
    """
    paths = tls_paths(data_dir)
    san = _subject_alt_names(hostnames, ips)
    paths.directory.mkdir(parents=True, exist_ok=True)
    paths.directory.chmod(0o700)
    first = (hostnames[0].rstrip(".") if hostnames else ips[0])[:60]
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        _make_ca(paths, re.sub(r"[^A-Za-z0-9.-]", "-", first))
    csr = paths.directory / "server.csr"
    ext = paths.directory / "server.ext"
    new_key = paths.directory / "server.key.new"
    new_cert = paths.directory / "server.crt.new"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={san}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n", encoding="ascii")
    try:
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(new_key), "-out", str(csr),
                 "-subj", f"/O=classroom-box/CN={re.sub(r'[^A-Za-z0-9.:-]', '-', first)}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(paths.ca_cert),
                 "-CAkey", str(paths.ca_key), "-set_serial", "0x" + secrets.token_hex(16),
                 "-days", str(CERT_DAYS), "-sha256", "-extfile", str(ext), "-out", str(new_cert))
        # Swap key and cert together-ish: a running server only reads them at start.
        new_key.replace(paths.key)
        new_cert.replace(paths.cert)
    finally:
        for leftover in (csr, ext, new_key, new_cert):
            leftover.unlink(missing_ok=True)
    return paths


def ca_fingerprint(paths: TlsPaths) -> str:
    """SHA-256 fingerprint of the CA, for IT to compare on the device before trusting it."""
    out = _openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", str(paths.ca_cert))
    return out.strip().split("=", 1)[-1]


def how_to_install_ca_text(paths: TlsPaths) -> str:
    """Plain-text instructions printed by `classroom-box tls init`."""
    return f"""\
Local CA created: {paths.ca_cert}
  SHA-256 fingerprint: {ca_fingerprint(paths)}
Server certificate:  {paths.cert}
Server key:          {paths.key}  (stays on the box)

Serve HTTPS with:
  classroom-box serve --tls-cert {paths.cert} --tls-key {paths.key}
  (or CLASSROOM_BOX_TLS_CERT / CLASSROOM_BOX_TLS_KEY in /etc/classroom-box/env)

Make devices trust the box (copy only ca.crt, never a .key file):
  - Managed Chromebooks / Android (Google Admin): Devices > Networks > Certificates, upload
    ca.crt and tick "Chromebook" / "Android" as a certificate authority for HTTPS.
  - Windows (Intune / GPO): import ca.crt into "Trusted Root Certification Authorities".
  - iPad / iPhone (MDM): push ca.crt in a Certificate payload; by hand: open the file, install
    the profile, then Settings > General > About > Certificate Trust Settings > enable it.
  - Android by hand: Settings > Security > Encryption & credentials > Install a certificate >
    CA certificate, pick ca.crt.
  - macOS: open ca.crt, in Keychain Access set it to "Always Trust" for SSL.
  - Linux/Firefox: Settings > Privacy & Security > Certificates > Import (trust for websites).
Compare the fingerprint above on the device before trusting it. Plain HTTP keeps working for
devices that do not trust the CA. Rerun `classroom-box tls init` when the box's IP changes: the
CA is kept, so devices do not need it again.
"""
