"""What does HTTP offer? One table of routes, each declaring who may call it and its input schema.
It must never import the live layer (what it needs of sockets is the `Sockets` protocol) nor answer
bad input with a 500.

The table (`API_ROUTES`, plus `/openapi.json` added by `openapi.with_openapi`) is a value: `app.py`
passes it to `blueprint()` for dispatch and validation, and to the OpenAPI builder; the
authorization matrix test reads it too, so a route cannot exist without saying who may call it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Blueprint, Response, current_app, jsonify, request

from classroom_box import __version__
from classroom_box.appliance.qr import svg_qr
from classroom_box.config import Settings
from classroom_box.domain import accounts
from classroom_box.domain.accounts import SetupToken
from classroom_box.domain.auth import (
    COOKIE_NAME,
    Principal,
    check_login,
    cookie_token,
    create_teacher,
    issue_token,
    principal_for,
    revoke_token,
    teacher_count,
)
from classroom_box.domain.classes import Classes
from classroom_box.domain.lectures import Lectures
from classroom_box.domain.management import Management
from classroom_box.domain.ratelimit import (
    FailureThrottle,
    KeyedBuckets,
    LoginThrottle,
    is_box_itself,
)
from classroom_box.domain.scheduler import Scheduler
from classroom_box.domain.store import Store
from classroom_box.domain.validation import ApiError, Field, Schema, invalid, query_values, validate


class Sockets(Protocol):
    """What HTTP needs from the live layer, which it must not import (app.py hands it in)."""

    def roster(self, section_id: int) -> list[dict[str, Any]]: ...

    async def disconnect_token(self, hashed: str) -> None: ...

    async def remove_student(self, student_id: int) -> None: ...


class Box(Protocol):
    """What the routes use of the running box (`app.Box`, hung on the Quart app)."""

    settings: Settings
    store: Store
    classes: Classes
    lectures: Lectures
    scheduler: Scheduler
    management: Management
    setup: SetupToken
    login_throttle: LoginThrottle
    join_throttle: FailureThrottle
    join_rate: KeyedBuckets

    @property
    def realtime(self) -> Sockets: ...

    async def lecture_state(self, sections: list[int]) -> dict[str, Any]: ...


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    who: str  # "public", "teacher", "student", "any" (teacher or student)
    body: Schema | None
    handler: Handler
    summary: str


API_ROUTES: list[Route] = []  # filled by @route below, in file order
GUESS_HOLD = 2.0  # seconds a throttled wrong join code waits for its 429
JOIN_WAIT = 60.0  # Retry-After for a device that joined too many new students


def route(method: str, path: str, who: str,
          body: Schema | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        API_ROUTES.append(Route(method, path, who, body, handler, (handler.__doc__ or "").strip()))
        return handler
    return register


def box() -> Box:
    return current_app.config["BOX"]  # type: ignore[no-any-return]


async def current_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None:
        token = cookie_token(request.headers.get("Cookie", ""))
    return await principal_for(box().store, token)


def _view(r: Route) -> Handler:
    async def view(**params: Any) -> Any:
        principal = await current_principal()
        if r.who != "public":
            if principal is None:
                raise ApiError(401, "unauthenticated", "log in or join a class first")
            if r.who in ("teacher", "student") and principal.kind != r.who:
                raise ApiError(403, "forbidden", f"only a {r.who} may do this")
        if any(isinstance(v, int) and not 0 < v <= 2**62 for v in params.values()):
            raise ApiError(404, "not_found", "no such object")  # SQLite ints are 64-bit
        args: list[Any] = [principal]
        if r.body is not None:
            args.append(validate(await json_body(), r.body))
        return await r.handler(*args, **params)
    view.__name__ = r.handler.__name__
    return view


async def json_body() -> object:
    """Any bytes at all: bad UTF-8, bad JSON or nesting too deep is a 422, never a 500."""
    raw = await request.get_data(as_text=False)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise invalid("the body is not valid JSON") from exc


def query(schema: Schema) -> dict[str, Any]:
    """The query string, validated like a body (digit strings count as integers)."""
    return validate(query_values(request.args), schema)


def blueprint(routes: Sequence[Route]) -> Blueprint:
    """A fresh blueprint serving exactly `routes` (Quart path syntax: <int:name>)."""
    bp = Blueprint("api", __name__)
    for r in routes:
        bp.add_url_rule(r.path, view_func=_view(r), methods=[r.method])
    return bp


def with_cookie(payload: dict[str, Any], token: str, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.set_cookie(
        COOKIE_NAME, token, httponly=True, samesite="Lax", secure=box().settings.scheme == "https",
        path="/", max_age=30 * 24 * 3600,
    )
    return response


def client_ip() -> str:
    return request.remote_addr or "unknown"


# --- health, setup, auth ------------------------------------------------------------------
@route("GET", "/healthz", "public")
async def healthz(_: Principal | None) -> Any:
    """Liveness for IT and load balancers."""
    return {"status": "ok", "version": __version__}


@route("GET", "/api/box/stats", "teacher")
async def box_stats(_: Principal) -> Any:
    """What the box has written so far: `commits` (each one fsync of the write-ahead log), the
    figure group commit keeps low (scripts/bench reads it around each step)."""
    return {"commits": box().store.commits}


@route("GET", "/api/setup", "public")
async def setup_status(_: Principal | None) -> Any:
    """Whether the first teacher account still has to be created."""
    return {"needed": await teacher_count(box().store) == 0}


SETUP = {"token": Field("str", max_len=100), "username": Field("str", max_len=80),
         "password": Field("str", max_len=200)}


@route("POST", "/api/setup", "public", SETUP)
async def setup(_: Principal | None, body: dict[str, Any]) -> Any:
    """Create the first teacher with the one-time token printed by `serve`."""
    b = box()
    if len(body["password"]) < 8:
        raise ApiError(422, "invalid", "the password needs at least 8 characters")
    taken = b.setup.take(body["token"])
    if taken is None or await teacher_count(b.store) > 0:
        raise ApiError(403, "forbidden", "this setup link is not valid (already used?)")
    try:
        user_id = await create_teacher(b.store, body["username"], body["password"])
    except BaseException:
        b.setup.give_back(taken)  # nothing was created: the link still works
        raise
    return await _logged_in(user_id, body["username"], 201)


async def _logged_in(user_id: int, username: str, status: int = 200) -> Response:
    b = box()
    token = await issue_token(b.store, "teacher", user_id, b.settings.teacher_login_hours)
    user = {"id": user_id, "username": username, "role": "teacher"}
    return with_cookie({"user": user, "token": token}, token, status)


LOGIN = {"username": Field("str", max_len=80), "password": Field("str", max_len=200)}


@route("POST", "/api/auth/login", "public", LOGIN)
async def login(_: Principal | None, body: dict[str, Any]) -> Any:
    """Teacher login; a device that keeps failing is slowed down (`ratelimit.LoginThrottle`)."""
    b, username, address = box(), body["username"], client_ip()
    unlocks = await accounts.unlocks(b.store, username)
    wait = b.login_throttle.retry_after(username, address, unlocks)
    if wait > 0:
        raise throttled(f"too many failed logins; try again in {math.ceil(wait)} s", wait)
    found = await check_login(b.store, username, body["password"])
    if found is None:
        b.login_throttle.fail(username, address)
        raise ApiError(401, "bad_credentials", "wrong username or password")
    b.login_throttle.succeed(username, address)
    return await _logged_in(*found)


@route("POST", "/api/auth/logout", "any")
async def logout(principal: Principal) -> Any:
    """Revoke this token server-side and close its sockets."""
    await revoke_token(box().store, principal.token_hash)
    await box().realtime.disconnect_token(principal.token_hash)
    response = jsonify({"ok": True})
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@route("GET", "/api/me", "any")
async def me(principal: Principal) -> Any:
    """Who the caller is, for the pages."""
    if principal.kind == "teacher":
        return {"role": "teacher",
                "user": {"id": principal.id, "username": principal.name, "role": "teacher"}}
    section = await box().classes.section(principal.section_id or 0)
    return {"role": "student", "student": {"id": principal.id, "name": principal.name},
            "class_id": principal.class_id, "section_id": principal.section_id,
            "class_name": section["class_name"] if section else "",
            "section_name": section["name"] if section else ""}


@route("GET", "/api/session", "public")  # path kept from the first release; it means the login
async def login_status(principal: Principal | None) -> Any:
    """Like /api/me, but 200 `{role: null}` when anonymous: the pages ask this on every load, and
    a browser logs each 401 as a console error, which an anonymous first visit is not."""
    return {"role": None} if principal is None else await me(principal)


# --- classes and joining ----------------------------------------------------------------------
CLASS = {"name": Field("str", max_len=80), "sections": Field("str_list", max_len=40, max=20)}


@route("POST", "/api/classes", "teacher", CLASS)
async def create_class(principal: Principal, body: dict[str, Any]) -> Any:
    """Create a class with its sections; each section gets a join code."""
    created = await box().classes.create(principal.id, body["name"], body["sections"])
    return created, 201


CLASSES_QUERY = {"archived": Field("int", required=False, min=0, max=1)}


@route("GET", "/api/classes", "teacher")
async def list_classes(principal: Principal) -> Any:
    """The calling teacher's classes; archived ones too with `?archived=1`."""
    q = query(CLASSES_QUERY)
    return {"classes": await box().classes.of_teacher(principal.id,
                                                      bool(q.get("archived")))}


async def _section_by_code(code: object) -> sqlite3.Row:
    """A valid code always passes; only wrong ones count, and a guesser who keeps guessing
    waits for each answer (issue 15: checking the throttle first let one student on a shared
    address block every classmate's join)."""
    b = box()
    clean = validate({"join_code": code}, {"join_code": Field("code")})["join_code"]
    section = await b.classes.by_code(clean)
    if section is not None:
        if section["archived_at"] is not None:
            raise ApiError(410, "archived", "this class is archived: ask your teacher")
        return section
    key = "join:" + client_ip()
    wait = b.join_throttle.retry_after(key)
    b.join_throttle.fail(key)
    if wait > 0:
        await asyncio.sleep(min(wait, GUESS_HOLD))  # no fast "no" while throttled
        raise throttled(f"too many wrong codes; try again in {math.ceil(wait)} s", wait)
    raise ApiError(404, "not_found", "no class has that join code")


@route("GET", "/api/join/<code>", "public")
async def join_info(_: Principal | None, code: str) -> Any:
    """What a join code leads to, so the join page can say where the student is going."""
    section = await _section_by_code(code)
    name = box().settings.name
    # "" when the box kept the default name: "Classroom" above a class name tells a student nothing
    return {"class_name": section["class_name"], "section_name": section["name"],
            "box_name": "" if name == Settings().name else name}


JOIN = {"join_code": Field("code"), "name": Field("name", max_len=80)}


@route("POST", "/api/join", "public", JOIN)
async def join(principal: Principal | None, body: dict[str, Any]) -> Any:
    """A student joins by code; the same device (cookie) stays the same student."""
    section = await _section_by_code(body["join_code"])
    b = box()
    if principal and principal.kind == "student" and principal.section_id == section["id"]:
        student_id = principal.id
        name = await b.classes.rename_student(student_id, body["name"])
    else:
        if not (is_box_itself(client_ip()) or b.join_rate.take(client_ip())):
            raise throttled("too many joins from this device; wait a minute", JOIN_WAIT)
        student_id, name = await b.classes.add_student(
            section["id"], body["name"], b.settings.max_students_per_section)
    token = await issue_token(b.store, "student", student_id, None)
    return with_cookie({"student": {"id": student_id, "name": name},
                        "class_id": section["class_id"], "section_id": section["id"],
                        "token": token}, token)


@route("GET", "/api/sections/<int:section_id>/roster", "teacher")
async def roster(principal: Principal, section_id: int) -> Any:
    """Who of this section is online now."""
    section = await _owned_section(principal, section_id)
    students = box().realtime.roster(section_id)
    return {"class_id": section["class_id"], "section_id": section_id,
            "count": len(students), "students": students}


@route("GET", "/api/sections/<int:section_id>/qr.svg", "teacher")
async def section_qr(principal: Principal, section_id: int) -> Any:
    """The section's join URL as an SVG QR code, for the teacher page and the projector."""
    section = await _owned_section(principal, section_id)
    svg = svg_qr(box().classes.join_url(section["join_code"]))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


async def _owned_section(principal: Principal, section_id: int) -> sqlite3.Row:
    section = await box().classes.section(section_id)
    if section is None:
        raise ApiError(404, "not_found", "section not found")
    if section["teacher_id"] != principal.id:
        raise ApiError(403, "forbidden", "that class belongs to another teacher")
    return section


def throttled(message: str, wait: float) -> ApiError:
    exc = ApiError(429, "throttled", message)
    exc.retry_after = max(1, math.ceil(wait))  # type: ignore[attr-defined]
    return exc


def error_response(exc: ApiError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    if exc.status == 429:
        response.headers["Retry-After"] = str(getattr(exc, "retry_after", 1))
    return response
