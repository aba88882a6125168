"""Every HTML answer carries a CSP that forbids inline script and any origin but ours."""

from __future__ import annotations

import pytest

from classroom_box.web.pages import SECURITY_HEADERS
from tests.helpers import RunningBox

PAGES = ["/", "/join/ABCDEF", "/student", "/teacher", "/setup"]


def directives(csp: str) -> dict[str, list[str]]:
    parts = [p.split() for p in csp.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def test_policy_forbids_inline_script_and_foreign_origins() -> None:
    d = directives(SECURITY_HEADERS["Content-Security-Policy"])
    script = d.get("script-src", d["default-src"])
    assert script == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts, no nonces
    assert d["default-src"] == ["'self'"] and d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'none'"] and d["frame-ancestors"] == ["'none'"]
    for values in d.values():
        assert not any(v.startswith(("http", "*", "'unsafe")) for v in values), values


@pytest.mark.parametrize("path", PAGES + ["/healthz", "/api/me", "/no-such-page"])
async def test_every_answer_has_the_headers(box: RunningBox, path: str) -> None:
    r = await box.http.get(path)
    assert r.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    if r.headers.get("content-type", "").startswith("text/html"):
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
