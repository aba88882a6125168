"""The kernel's per-device limit on new connections (`classroom-box connection-limit`), for real:
the box's own nftables table loaded into a fresh network namespace, a real box serving in it, a
device flooding it with connections from one loopback address and a classmate on another.

Needs root, `ip` and `nft` (CI installs nftables); skipped without them, e.g. inside
scripts/check-machine's container, which has no CAP_NET_ADMIN.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from classroom_box.appliance import connlimit
from tests.helpers import free_port

# Runs inside the namespace: open N connections from one address as fast as the kernel lets us
# (non-blocking), count those whose handshake completes within a second, then ask /healthz from
# another address while the flooder's dropped SYNs are still being retried.
PROBE = r"""
import json, select, socket, sys, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
pending = {}
for _ in range(n):
    s = socket.socket(); s.setblocking(False); s.bind(("127.0.0.201", 0))
    s.connect_ex(("127.0.0.1", port)); pending[s.fileno()] = s
done, poll, end = 0, select.poll(), time.monotonic() + 1.0
for fd in pending: poll.register(fd, select.POLLOUT)
while pending and time.monotonic() < end:
    for fd, _ in poll.poll(50):
        s = pending.pop(fd); poll.unregister(fd)
        done += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
opener = urllib.request.build_opener()
class Classmate(urllib.request.HTTPHandler):
    def http_open(self, req):
        import http.client
        return self.do_open(lambda *a, **k: http.client.HTTPConnection(
            *a, source_address=("127.0.0.5", 0), **k), req)
status = urllib.request.build_opener(Classmate).open(
    f"http://127.0.0.1:{port}/healthz", timeout=5).status
print(json.dumps({"completed": done, "classmate_healthz": status}))
"""
FLOOD = 1000


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    if not (shutil.which("nft") or Path("/usr/sbin/nft").exists()):
        pytest.skip("nft is not installed (apt install nftables)")
    name = f"cb-limit-{os.getpid()}"
    probe = _run("ip", "netns", "add", name, check=False)
    if probe.returncode != 0:
        pytest.skip(f"`ip netns add` is not permitted here: {probe.stderr.strip()}")
    try:
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        _run("ip", "netns", "del", name, check=False)


def _in(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("ip", "netns", "exec", ns, *argv, check=check)


def _cli(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _in(ns, sys.executable, "-m", "classroom_box", "connection-limit", *args, check=False)


def _flood(ns: str, port: int) -> dict[str, int]:
    return json.loads(_in(ns, sys.executable, "-c", PROBE, str(port), str(FLOOD)).stdout)


def test_a_flood_from_one_address_is_dropped_by_the_kernel(netns: str, tmp_path: Path) -> None:
    port = free_port()
    applied = _cli(netns, "--apply", "--port", str(port))
    assert applied.returncode == 0, applied.stderr
    assert _cli(netns, "--apply", "--port", str(port)).returncode == 0  # re-applying replaces
    table = _in(netns, "nft", "list", "table", "inet", connlimit.TABLE).stdout
    assert table.count(f"tcp dport {port}") == 2, table  # one rule per address family, once

    box = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "classroom_box", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--no-mdns", "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _in(netns, sys.executable, "-c", "import socket, time\n"
            f"for _ in range(300):\n    try: socket.create_connection(('127.0.0.1', {port}), 1)"
            ".close(); break\n    except OSError: time.sleep(0.1)")
        limited = _flood(netns, port)
        dropped = _in(netns, "nft", "list", "table", "inet", connlimit.TABLE).stdout
        removed = _cli(netns, "--remove")
        assert removed.returncode == 0, removed.stderr
        _in(netns, "sleep", "3")  # the flooder's retried SYNs are gone; the box's cap is free
        unlimited = _flood(netns, port)
    finally:
        box.terminate()
        box.wait(timeout=15)

    # With the limit the burst (300) and a second's rate (50) got through, not the thousand;
    # the classmate on another address was served meanwhile.
    assert 200 <= limited["completed"] <= connlimit.BURST + 2 * connlimit.RATE_PER_SECOND, limited
    assert limited["classmate_healthz"] == 200
    assert int(re.search(r"@new_v4 .* counter packets (\d+)", dropped)[1]) > 0, dropped
    # Without it the kernel completes every handshake (the box then resets those over its cap).
    assert unlimited["completed"] >= 0.9 * FLOOD, unlimited
    assert connlimit.TABLE not in _in(netns, "nft", "list", "tables").stdout


def test_the_rules_follow_the_configured_port() -> None:
    printed = _run(sys.executable, "-m", "classroom_box", "connection-limit", "--port", "8123")
    assert printed.stdout == connlimit.ruleset(8123)
    assert printed.stdout.count("tcp dport 8123 ct state new") == 2
    assert f"limit rate over {connlimit.RATE_PER_SECOND}/second" in printed.stdout
