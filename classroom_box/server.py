"""Running the box for real: uvicorn on one event loop, start-up banner, clean shutdown.

uvicorn (with uvloop and httptools where available) rather than hypercorn: it is what the
reference measurements in the benchmark issue used, and permessage-deflate can be turned off,
which the fan-out profile showed costs a compression per recipient.
"""

from __future__ import annotations

import importlib.util

import uvicorn

from classroom_box.app import create_app
from classroom_box.config import Settings
from classroom_box.urls import base_url


def uvicorn_config(settings: Settings, app: object) -> uvicorn.Config:
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, lifespan="on",
        loop="uvloop" if has_uvloop else "asyncio", http="httptools", ws="websockets-sansio",
        ws_per_message_deflate=False, log_config=None, log_level=settings.log_level.lower(),
        access_log=False, timeout_graceful_shutdown=3,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )


def banner(settings: Settings, setup_token: str | None) -> str:
    base = base_url(settings)
    lines = [
        f"classroom-box '{settings.name}' serving on {settings.host}:{settings.port}",
        f"  teacher page: {base}/teacher",
        f"  students:     {base}/  (or scan a section's QR code)",
        f"  data:         {settings.data_dir}",
    ]
    if setup_token:
        lines.append(f"  first start: create the teacher account at {base}/setup?token={setup_token}")
    return "\n".join(lines)


def serve(settings: Settings) -> int:
    from classroom_box.cli import teachers_exist

    app = create_app(settings)
    box = app.box  # type: ignore[attr-defined]
    if teachers_exist(settings):
        box.setup.consume()
    print(banner(settings, box.setup.value), flush=True)
    uvicorn.Server(uvicorn_config(settings, app)).run()
    return 0
