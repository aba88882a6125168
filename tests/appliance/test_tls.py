"""tls init against the real openssl CLI and a real TLS handshake with Python's ssl."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from classroom_box.appliance.tls import TlsError, ca_fingerprint, how_to_install_ca_text, init_tls

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")

NAMES = ["classroom-box-abc123.local.", "room12.school.lan"]
IPS = ["127.0.0.1", "192.168.1.20"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory):
    return init_tls(tmp_path_factory.mktemp("data"), NAMES, IPS)


def _openssl(*args: str) -> str:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)
    return out.stdout


def test_server_cert_verifies_against_ca_and_has_sans(paths) -> None:
    out = _openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile",
                   str(paths.ca_cert), str(paths.cert))
    assert out.strip() == f"{paths.cert}: OK"
    san = _openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(paths.cert))
    for entry in ("DNS:classroom-box-abc123.local", "DNS:room12.school.lan",
                  "IP Address:127.0.0.1", "IP Address:192.168.1.20"):
        assert entry in san
    # The CA is a CA, the server cert is not.
    assert "CA:TRUE" in _openssl("x509", "-noout", "-ext", "basicConstraints",
                                 "-in", str(paths.ca_cert))
    assert "CA:FALSE" in _openssl("x509", "-noout", "-ext", "basicConstraints",
                                  "-in", str(paths.cert))


def test_private_keys_are_private(paths) -> None:
    assert paths.key.stat().st_mode & 0o077 == 0
    assert paths.ca_key.stat().st_mode & 0o077 == 0
    assert paths.directory.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in paths.directory.iterdir()) == [
        "ca.crt", "ca.key", "server.crt", "server.key"]


async def _handshake(paths, server_hostname: str) -> str:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(paths.cert, paths.key)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca_cert))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # the default from Python 3.13 on

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=server_hostname), 5)
        writer.write(b"box\n")
        reply = await reader.read()
        writer.close()
        return reply.decode()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("hostname", ["classroom-box-abc123.local", "127.0.0.1"])
async def test_real_handshake_verifies_name_and_ip(paths, hostname: str) -> None:
    assert await _handshake(paths, hostname) == "hello box\n"


async def test_handshake_rejects_a_name_not_in_the_cert(paths) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(paths, "evil.example")


def test_rerun_keeps_ca_and_reissues_server_cert(tmp_path: Path) -> None:
    first = init_tls(tmp_path, ["a.local"], ["10.0.0.5"])
    fingerprint = ca_fingerprint(first)
    old_cert = first.cert.read_bytes()
    second = init_tls(tmp_path, ["a.local"], ["10.0.0.6"])
    assert ca_fingerprint(second) == fingerprint
    assert second.cert.read_bytes() != old_cert
    san = _openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(second.cert))
    assert "10.0.0.6" in san and "10.0.0.5" not in san
    text = how_to_install_ca_text(second)
    assert fingerprint in text and str(second.cert) in text and "--tls-cert" in text


def test_invalid_names_are_refused_before_openssl(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="host name"):
        init_tls(tmp_path, ["bad name\n[ext]"], [])
    with pytest.raises(TlsError, match="IP"):
        init_tls(tmp_path, [], ["300.1.1.1"])
    with pytest.raises(TlsError, match="at least one"):
        init_tls(tmp_path, [], [])
    assert not (tmp_path / "tls").exists()
