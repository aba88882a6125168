"""What every HTTP request passes through: same-origin check, security headers, JSON errors.
It owns the request hooks and must never let an exception leave as an HTML page or a traceback
(a full disk is a 507 `disk_full`, a damaged database a 503 `storage_damaged`, anything
unforeseen a 500 `internal` with the log line).
"""

from __future__ import annotations

import logging
from pathlib import Path

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from classroom_box.domain.storage_faults import storage_refusal
from classroom_box.domain.validation import ApiError
from classroom_box.web.api import error_response
from classroom_box.web.origin import is_own_origin
from classroom_box.web.pages import SECURITY_HEADERS

log = logging.getLogger(__name__)


def install_http_hooks(app: Quart, db_path: Path) -> None:
    """Every request is checked for its origin, every answer gets the security headers, and
    every error leaves as JSON `{error: {code, message}}`."""
    @app.before_request
    async def same_origin_only() -> Response | None:
        """CSRF: a state-changing request must be JSON and, if it says where from, from us."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        origin = request.headers.get("Origin")
        if origin and not is_own_origin(origin, request.scheme, request.host):
            return error_response(ApiError(403, "cross_origin", "cross-site request refused"))
        if request.path.startswith("/api/") and request.mimetype != "application/json":
            return error_response(ApiError(415, "json_required", "send JSON"))
        return None

    @app.after_request
    async def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify({"error": {"code": code, "message": exc.description or exc.name}})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        refusal = storage_refusal(exc, db_path, f"{request.method} {request.path}")
        if refusal is not None:
            return error_response(refusal)
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = jsonify({"error": {"code": "internal", "message": "internal error"}})
        response.status_code = 500
        return response
