"""The CLI as IT types it: teacher add/list, --version, and serve's banner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from classroom_box import __version__
from tests.process import BoxProcess


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom_box", *args], input=stdin,
                          text=True, capture_output=True, timeout=60)


def test_version() -> None:
    assert cli("--version").stdout.strip() == f"classroom-box {__version__}"


def test_help_speaks_to_it_not_to_developers() -> None:
    """`--help` once printed the module's docstring: its contract for developers."""
    helped = " ".join(cli("--help").stdout.split())
    assert "`serve` runs it" in helped
    assert "never" not in helped and "argparse" not in helped


def test_teacher_add_reads_stdin_and_login_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = cli("teacher", "add", "maria", "--data-dir", str(data), stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    dup = cli("teacher", "add", "MARIA", "--data-dir", str(data), stdin="s3cret-pass\n")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    short = cli("teacher", "add", "x", "--data-dir", str(data), stdin="short\n")
    assert short.returncode == 2
    listing = cli("teacher", "list", "--data-dir", str(data))
    assert "maria" in listing.stdout and "x\t" not in listing.stdout
    box = BoxProcess(data).start()
    try:
        r = httpx.post(box.url + "/api/auth/login",
                       json={"username": "maria", "password": "s3cret-pass"})
        assert r.status_code == 200 and r.json()["user"]["role"] == "teacher"
    finally:
        box.stop()
    banner = box.log.read_text()
    assert f"{box.url}/teacher" in banner and "setup?token=" not in banner
    qr = cli("qr", "--section", "999", "--data-dir", str(data))
    assert qr.returncode == 1 and "no section" in qr.stderr


def test_serve_prints_every_section_join_url_and_qr_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("teacher", "add", "maria", "--data-dir", str(data), stdin="s3cret-pass\n")
    box = BoxProcess(data).start()
    try:
        token = httpx.post(box.url + "/api/auth/login", json={
            "username": "maria", "password": "s3cret-pass"}).json()["token"]
        made = httpx.post(box.url + "/api/classes", json={"name": "Bio", "sections": ["A", "B"]},
                          headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        box.stop()
    box.start()
    box.stop()
    banner = box.log.read_text()
    assert ".local" not in banner  # served with --no-mdns: no name that nothing answers for
    for section in made["sections"]:
        assert f"join Bio / {section['name']}: " in banner
        assert f"/join/{section['join_code']}" in banner
        assert f"(classroom-box qr --section {section['section_id']})" in banner
        printed = cli("qr", "--section", str(section["section_id"]), "--data-dir", str(data),
                      "--public-host", "10.1.2.3")
        assert printed.returncode == 0
        # the port the box served on, not the default 8080
        assert f"http://10.1.2.3:{box.port}/join/{section['join_code']}" in printed.stdout
        explicit = cli("qr", "--section", str(section["section_id"]), "--data-dir", str(data),
                       "--public-host", "10.1.2.3", "--port", "8080")
        assert f"http://10.1.2.3:8080/join/{section['join_code']}" in explicit.stdout
    unknown = cli("qr", "--section", "999", "--data-dir", str(data))
    assert unknown.returncode == 1
    assert f"{made['sections'][0]['section_id']}: Bio / A" in unknown.stderr


def test_serve_help_shows_every_default() -> None:
    helped = cli("serve", "--help").stdout
    for text in ("[default 0.0.0.0;", "[default 8080;", "[default 24.0;", "[default 365;",
                 "CLASSROOM_BOX_DATA_RETENTION_DAYS"):
        assert text in " ".join(helped.split()), text


def test_serve_prints_setup_link_on_first_start(tmp_path: Path) -> None:
    box = BoxProcess(tmp_path / "data").start()
    try:
        text = box.log.read_text()
        assert "/setup?token=" in text
        token = text.split("/setup?token=")[1].split()[0]
        r = httpx.post(box.url + "/api/setup", json={"token": token, "username": "first",
                                                     "password": "first-pass"})
        assert r.status_code == 201
    finally:
        # uvicorn re-raises SIGTERM after its graceful shutdown; systemd counts that as clean
        assert box.stop() in (0, -15)
    assert "Application shutdown complete" in box.log.read_text()


def test_env_vars_configure_serve(tmp_path: Path) -> None:
    import os

    from tests.helpers import free_port
    port = free_port()
    env = {**os.environ, "CLASSROOM_BOX_PORT": str(port), "CLASSROOM_BOX_HOST": "127.0.0.1",
           "CLASSROOM_BOX_DATA_DIR": str(tmp_path / "d"), "CLASSROOM_BOX_NAME": "Room 12",
           "CLASSROOM_BOX_MDNS": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "classroom_box", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert "Room 12" in first and str(port) in first
    finally:
        proc.terminate()
        proc.wait(10)
    assert (tmp_path / "d" / "classroom-box.db").exists() or proc.returncode is not None
