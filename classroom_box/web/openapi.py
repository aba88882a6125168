"""The OpenAPI 3.1 description, generated from the route table so it cannot drift from the code.
It must never describe a route the table does not hold: it only translates it.

Each `Route` already says its method, path, who may call it and its body `Field`s; this module only
translates that. `with_openapi(routes)` returns the table with `/openapi.json` itself as one more
(public) row, so it is documented too; the builder is given the table, it reads no global.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from classroom_box import __version__
from classroom_box.domain.auth import COOKIE_NAME, Principal
from classroom_box.domain.validation import json_schema
from classroom_box.web.api import CLASSES_QUERY, Route
from classroom_box.web.api_answers import IDEMPOTENT_PATHS, QUESTIONS_QUERY
from classroom_box.web.api_day import HISTORY_QUERY
from classroom_box.web.api_lectures import LECTURES_QUERY

PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
ERROR = {"$ref": "#/components/schemas/Error"}
AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "Done, nothing to return",
    401: "Not logged in (no, unknown, expired or revoked token)",
    403: "Logged in but not allowed (wrong role, another teacher's class, another section), or a"
         " cross-site request", 404: "No such object or join code",
    409: "Conflicts with the current state", 413: "Body larger than 64 KiB",
    410: "The class is archived: its join code admits nobody new",
    415: "Not JSON", 422: "Input does not match the schema", 429: "Throttled; see Retry-After",
    503: "The box's database is damaged (code storage_damaged): nothing was saved; a backup"
         " must be restored",
    507: "The box's storage is full (code disk_full): nothing was saved; retry once space is back",
}
QUERIES: dict[str, dict[str, Any]] = {"/api/lectures": LECTURES_QUERY,
                                      "/api/questions": QUESTIONS_QUERY,
                                      "/api/classes": CLASSES_QUERY,
                                      "/api/lectures/history": HISTORY_QUERY}
CREATED = {"setup", "create_class", "start", "schedule", "create_question", "answer_question",
           "ask_teacher", "add_section"}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": True,
                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                   "description": "the same key and body again replays the stored answer"}


def openapi_path(path: str) -> str:
    """Quart `<int:section_id>` becomes OpenAPI `{section_id}`."""
    return PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", path)


def _parameters(r: Route) -> list[dict[str, Any]]:
    params = []
    for converter, name in PATH_PARAM.findall(r.path):
        schema: dict[str, Any] = ({"type": "integer", "minimum": 1, "maximum": 2**62}
                                  if converter == "int" else {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, spec in QUERIES.get(r.path, {}).items():
        params.append({"name": name, "in": "query", "required": spec.required,
                       "schema": spec.json_schema()})
    if r.path in IDEMPOTENT_PATHS:
        params.append(IDEMPOTENCY_KEY)
    return params


def _statuses(r: Route) -> list[int]:
    ok = 201 if r.method == "POST" and r.handler.__name__ in CREATED else 200
    codes = [204 if r.method == "DELETE" else ok, 503]  # any request may meet a damaged page
    if r.who != "public":
        codes += [401, 403]
    if r.path in QUERIES:
        codes += [422]
    if r.path.startswith("/api/join"):
        codes += [410]
    if r.method in ("POST", "PATCH", "DELETE"):
        codes += [403, 413, 415, 422, 429] if r.body is not None else [403, 415]
        codes += [507]  # every write may find the storage full
    if "<" in r.path or r.path.startswith("/api/lecture/") or r.path == "/api/join":
        codes += [404, 409, 422, 429]
    if r.path == "/api/auth/login":
        codes += [401]
    if r.path in IDEMPOTENT_PATHS:
        codes += [200, 400, 409]  # 200: a replay; 400: no usable Idempotency-Key
    if r.path in ("/api/pulse", "/api/asks", "/api/questions"):
        codes += [404, 409]
    return sorted(set(codes))


def _operation(r: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": r.handler.__name__,
        "summary": r.summary.splitlines()[0] if r.summary else r.path,
        "description": f"Caller: {r.who}. {r.summary}",
        "security": [] if r.who == "public" else AUTHENTICATED,
        "responses": {
            str(code): ({"description": STATUS_TEXT.get(code, "")} if code < 400 else
                        {"description": STATUS_TEXT.get(code, ""),
                         "content": {"application/json": {"schema": ERROR}}})
            for code in _statuses(r)
        },
    }
    if r.who == "public":
        op["security"] = [{}, *AUTHENTICATED]  # optional: join keeps the same device's student
    params = _parameters(r)
    if params:
        op["parameters"] = params
    if r.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": json_schema(r.body)}}}
    return op


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(openapi_path(r.path), {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {"title": "classroom-box", "version": __version__,
                 "description": "Generated from the route table; see docs/api.md."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "token returned by login, setup or join"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME,
                           "description": "HttpOnly login cookie set by login, setup or join;"
                                          " POSTs with it must be same-origin JSON"},
            },
            "schemas": {"Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
            }},
        },
    }


def with_openapi(routes: Sequence[Route]) -> tuple[Route, ...]:
    """`routes` plus `GET /openapi.json`, which describes that whole table (itself included)."""
    table: list[Route] = list(routes)

    async def openapi_json(_: Principal | None) -> Any:
        return build_openapi(table)

    summary = "This API's OpenAPI 3.1 description, generated from the route table."
    table.append(Route("GET", "/openapi.json", "public", None, openapi_json, summary))
    return tuple(table)
