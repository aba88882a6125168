"""Helpers for the hostile-classroom tests: other source addresses, raw handshakes, a TLS cert."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.helpers import RunningBox


def client_from(box: RunningBox, address: str, **kw: Any) -> httpx.AsyncClient:
    """An HTTP client whose requests come from another loopback address (all of 127/8 is local)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=box.url, transport=transport, timeout=10, **kw)


async def socket_connect(url: str, token: str | None, transport: str = "websocket",
                         **kw: Any) -> socketio.AsyncClient | None:
    """A connected raw Socket.IO client, or None when the box refused the connection."""
    client = socketio.AsyncClient(reconnection=False, **kw)
    try:
        await client.connect(url, auth={"token": token} if token else {},
                             transports=[transport], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return None
    return client


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


async def polling_connect(http: httpx.AsyncClient, token: str | None,
                          headers: dict[str, str] | None = None, keep: bool = False) -> str:
    """Socket.IO connect over raw long-polling; returns "40" (connected) or "44" (refused).

    Raw requests, because a refused python-socketio polling client waits out a 25 s long-poll.
    """
    base = "/socket.io/?EIO=4&transport=polling"
    opened = await http.get(base, headers=headers)
    assert opened.status_code == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    auth = json.dumps({"token": token} if token else {})
    posted = await http.post(f"{base}&sid={sid}", content=f"40{auth}", headers=headers)
    assert posted.status_code == 200, posted.text
    answer = (await http.get(f"{base}&sid={sid}", headers=headers)).text
    if keep:
        return answer[:2] + sid  # the caller closes it with polling_close
    await polling_close(http, sid, headers)
    return answer[:2]


async def polling_close(http: httpx.AsyncClient, sid: str,
                        headers: dict[str, str] | None = None) -> None:
    await http.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}", content="1", headers=headers)
