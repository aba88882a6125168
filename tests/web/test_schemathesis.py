"""schemathesis against /openapi.json of a real box process, authenticated as a teacher: no 5xx.

The box runs as its own process (tests/process.py); its log must not contain an ERROR or a
traceback afterwards. Logout is left out so the token stays valid for the whole run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.process import BoxProcess, add_teacher

PASSWORD = "correct horse battery"
MAX_EXAMPLES = 100  # per operation and phase: about 2,000 requests, ~20 s on 2 cores

pytestmark = pytest.mark.skipif(shutil.which("schemathesis") is None,
                                reason="pip install schemathesis (in the test extra)")


def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    try:
        token = httpx.post(box.url + "/api/auth/login", json={
            "username": "alice", "password": PASSWORD}).json()["token"]
        httpx.post(box.url + "/api/classes", json={"name": "Math", "sections": ["A", "B"]},
                   headers={"Authorization": f"Bearer {token}"})
        run = subprocess.run(
            ["schemathesis", "run", box.url + "/openapi.json",
             "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error",
             "--max-examples", str(MAX_EXAMPLES), "--exclude-path", "/api/auth/logout",
             "--suppress-health-check", "all", "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        box.stop()
    summary = re.search(r"(\d+) generated, (.*)", run.stdout)
    print("schemathesis:", summary.group(0) if summary else run.stdout[-500:])
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary and int(summary.group(1)) > 500
    log = box.log.read_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-4000:]
