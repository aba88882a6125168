"""The bundled PWA: page routes onto files in `static/`, and the headers every answer carries.
It must never serve a page that loads anything from another origin.

Everything a page loads comes from the box; the Content-Security-Policy makes the browser enforce
that (and forbids inline script, so teacher-typed text can never run as code).
"""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, current_app, send_from_directory

import classroom_box

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
pages = Blueprint("pages", __name__)


def static_dir() -> Path:
    """Installed: the package's copy; from a checkout: the repository's `static/`."""
    package = Path(classroom_box.__file__).parent
    for candidate in (package / "static", package.parent / "static"):
        if candidate.is_dir():
            return candidate
    return package.parent / "static"


async def _page(name: str) -> Response:
    response = await send_from_directory(current_app.config["STATIC_DIR"], name)
    response.headers["Cache-Control"] = "no-cache"
    return response


@pages.get("/")
async def index() -> Response:
    return await _page("index.html")


@pages.get("/join/<code>")
@pages.get("/student")
async def student(code: str = "") -> Response:
    return await _page("student.html")


@pages.get("/teacher")
async def teacher() -> Response:
    return await _page("teacher.html")


@pages.get("/setup")
async def setup() -> Response:
    return await _page("setup.html")


@pages.get("/manifest.webmanifest")
async def manifest() -> Response:
    response = await _page("manifest.webmanifest")
    response.mimetype = "application/manifest+json"
    return response


@pages.get("/sw.js")
async def service_worker() -> Response:
    return await _page("sw.js")


@pages.get("/static/<path:path>")
async def static_file(path: str) -> Response:
    response = await send_from_directory(current_app.config["STATIC_DIR"], path)
    response.headers["Cache-Control"] = "no-cache"
    return response
