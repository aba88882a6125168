"""The systemd unit and scripts/install.sh, checked with the real tools.

The install test lays the box into a temporary root with --prefix (which implies --no-systemctl).
To stay fast and offline, the venv is created with --system-site-packages and pip gets --no-deps:
the dependencies come from the Python running the tests, only classroom-box itself is built and
installed into the venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "classroom-box.service"
LIMIT_UNIT = REPO / "systemd" / "classroom-box-connection-limit.service"
INSTALL = REPO / "scripts" / "install.sh"
ENTRY = "/opt/classroom-box/venv/bin/classroom-box"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze missing (apt install systemd)")


def _verify(unit_text: str, tmp_path: Path) -> None:
    """systemd-analyze verify; unknown keys are only warnings there, so fail on any output."""
    unit = tmp_path / "classroom-box.service"
    unit.write_text(unit_text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def _exposure(*args: str) -> float:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", *args],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for classroom-box\.service: ([0-9.]+)",
                      result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@needs_analyze
def test_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"ExecStart={ENTRY} serve" in text
    # verify insists that ExecStart exists: point it at a stand-in executable.
    fake = tmp_path / "classroom-box"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    _verify(text.replace(ENTRY, str(fake)), tmp_path)


@needs_analyze
def test_connection_limit_unit_verifies(tmp_path: Path) -> None:
    text = LIMIT_UNIT.read_text()
    assert f"ExecStart={ENTRY} connection-limit --apply" in text
    assert f"ExecStop={ENTRY} connection-limit --remove" in text
    assert "Before=classroom-box.service" in text and "WantedBy=classroom-box.service" in text
    fake = tmp_path / "classroom-box"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    unit = tmp_path / LIMIT_UNIT.name
    unit.write_text(text.replace(ENTRY, str(fake)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_unit_has_the_required_settings() -> None:
    settings = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    for key, value in {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30", "DynamicUser": "yes",
        "StateDirectory": "classroom-box", "Restart": "on-failure", "KillSignal": "SIGTERM",
        "TimeoutStopSec": "10", "After": "network-online.target",
        "Wants": "network-online.target", "EnvironmentFile": "-/etc/classroom-box/env",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings.get(key) == [value], key
    assert "CLASSROOM_BOX_DATA_DIR=%S/classroom-box" in settings["Environment"]
    families = settings["RestrictAddressFamilies"][0].split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]
    assert "AmbientCapabilities" not in settings  # port < 1024 only via install.sh's drop-in


@needs_analyze
def test_unit_exposure_score_is_at_most_2() -> None:
    assert _exposure(str(UNIT)) <= 2.0


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck missing (apt install shellcheck)")
def test_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (REPO / "scripts").glob("*.sh"))
    assert scripts
    result = subprocess.run(["shellcheck", "--severity=style", *scripts],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def _install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(INSTALL), "--python", sys.executable, "--system-site-packages",
         "--pip-arg", "--no-deps", *args],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_install_upgrade_uninstall_into_a_prefix(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = _install("--prefix", str(root), "--name", "Room 12", "--port", "80").stdout
    venv = root / "opt/classroom-box/venv"
    unit = root / "etc/systemd/system/classroom-box.service"
    dropin = root / "etc/systemd/system/classroom-box.service.d/low-port.conf"
    env_file = root / "etc/classroom-box/env"
    admin = root / "usr/local/sbin/classroom-box-admin"

    entry = venv / "bin/classroom-box"
    assert entry.is_file() and os.access(entry, os.X_OK)
    assert "classroom_box.cli" in entry.read_text()
    # The package is really installed in the venv, not picked up from the checkout.
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import classroom_box.appliance.backup as m; print(m.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert probe.stdout.strip().startswith(str(venv))
    assert unit.read_text() == UNIT.read_text()
    assert (root / "etc/systemd/system" / LIMIT_UNIT.name).read_text() == LIMIT_UNIT.read_text()
    assert 'CLASSROOM_BOX_NAME="Room 12"' in env_file.read_text()
    assert "CLASSROOM_BOX_PORT=80" in env_file.read_text()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in dropin.read_text()
    assert "systemd-run" in admin.read_text() and os.access(admin, os.X_OK)
    # the same data-directory mode and umask as the unit, or systemd-run resets the dir to 0755
    # (scripts/check-machine checks the mode after a real `classroom-box-admin teacher add`)
    assert "-p StateDirectoryMode=0700 -p UMask=0077" in admin.read_text()
    assert "classroom-box-admin teacher add" in out
    if shutil.which("systemd-analyze"):
        _verify(unit.read_text().replace(ENTRY, str(entry)), tmp_path)
        assert _exposure("--root", str(root), "classroom-box.service") <= 2.0  # with drop-in

    # Data the running box would have made, and a local edit of the settings.
    data = root / "var/lib/classroom-box"
    data.mkdir(parents=True)
    (data / "classroom-box.db").write_bytes(b"precious")
    edited = 'CLASSROOM_BOX_NAME="Edited"\nCLASSROOM_BOX_PORT=8080\n'
    env_file.write_text(edited)

    out = _install("--prefix", str(root), "--name", "Ignored", "--port", "81").stdout
    assert env_file.read_text() == edited
    assert "keeping" in out
    assert not dropin.exists()  # port 8080 needs no capability
    assert entry.is_file() and (data / "classroom-box.db").read_bytes() == b"precious"

    # DESTDIR works like --prefix.
    _install("--uninstall", env={**os.environ, "DESTDIR": str(root)})
    limit_unit = root / "etc/systemd/system" / LIMIT_UNIT.name
    for gone in (venv, root / "opt/classroom-box", unit, limit_unit, dropin.parent, env_file, admin):
        assert not gone.exists(), gone
    assert (data / "classroom-box.db").read_bytes() == b"precious"

    _install("--prefix", str(root), "--uninstall", "--purge")
    assert not data.exists()
