"""Who is this? Teacher passwords, opaque login tokens, and the principal behind a request.
It must never store a token in clear or let a password hash run on the event loop.

Tokens are random, handed to the client once, and stored only as SHA-256 hashes, so a copy of the
database does not let anyone log in; logout deletes the row, which revokes it everywhere at once.
Password hashing is scrypt (memory-hard, in the standard library) and runs off the event loop.

A teacher token lives `teacher_login_hours` from its issue (`created_at`; `expires_at` is issue
time plus lifetime). Both are wall times, so they move with the clock: the box shifts them by
every jump it sees (`shift_token_times`), and a token issued "in the future" (the clock went back
while the box was off) is re-anchored to now with its full lifetime (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.clock import JUMP_TOLERANCE, shift_by, shifted
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import from_iso, iso, utcnow

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB per hash: fine on a Raspberry Pi


@dataclass(frozen=True)
class Principal:
    kind: str  # "teacher" or "student"
    id: int
    name: str
    token_hash: str
    class_id: int | None = None
    section_id: int | None = None
    seen: bool = True  # a student who has connected at least once

    @property
    def is_teacher(self) -> bool:
        return self.kind == "teacher"


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 2**20,
        dklen=32,
    )


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=64 * 2**20, dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, stored)


# A real hash to compare against when the username is unknown, so timing does not tell.
_DUMMY_HASH = hash_password_sync(secrets.token_urlsafe(16))


# A "session" in this code base is a lecture (`session_id`); a login is a token. The cookie kept its
# first name so that devices already joined stay logged in.
COOKIE_NAME = "cb_session"


def cookie_token(header: str) -> str | None:
    """The login token from a Cookie header, for HTTP and Socket.IO alike."""
    if not header:
        return None
    try:
        morsel = SimpleCookie(header).get(COOKIE_NAME)
    except Exception:  # a malformed cookie header is the client's problem, not a crash
        return None
    return morsel.value if morsel else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(store: Store, kind: str, subject_id: int, ttl_hours: float | None) -> str:
    token = secrets.token_urlsafe(32)
    expires = time.time() + ttl_hours * 3600 if ttl_hours else None
    row = (token_hash(token), kind, subject_id, iso(utcnow()), expires)

    def insert(tx: SyncTx) -> None:
        tx.execute("INSERT INTO tokens (token_hash, kind, subject_id, created_at, expires_at)"
                   " VALUES (?, ?, ?, ?, ?)", row)
    await store.apply(insert)
    return token


async def revoke_token(store: Store, hashed: str) -> None:
    async with store.write() as tx:
        await tx.execute("DELETE FROM tokens WHERE token_hash = ?", (hashed,))


async def shift_token_times(tx: Tx, seconds: float) -> None:
    """The wall clock jumped by `seconds`: move expiring tokens along, keeping their age."""
    await tx.execute(
        "UPDATE tokens SET expires_at = expires_at + ?,"
        f" created_at = {shifted('created_at')} WHERE expires_at IS NOT NULL",
        (seconds, shift_by(seconds)),
    )


async def _live_token(store: Store, hashed: str, created_at: str,
                      expires_at: float | None) -> bool:
    """Unexpired, measured from its issue time; an issue time in the future means now."""
    if expires_at is None:
        return True
    now, issued = time.time(), from_iso(created_at).timestamp()
    if issued <= now + JUMP_TOLERANCE:
        return expires_at > now
    try:
        async with store.write() as tx:
            await tx.execute(
                "UPDATE tokens SET created_at = ?, expires_at = ? WHERE token_hash = ?",
                (iso(utcnow()), now + (expires_at - issued), hashed),
            )
    except Exception as exc:  # still valid; the re-anchoring is retried on the next request
        log.warning("could not re-anchor a token issued in the future: %s", exc)
    return True


async def principal_for(store: Store, token: object) -> Principal | None:
    """Resolve a token to its live principal, or None (unknown, expired, malformed).

    One statement (one trip to a reader) for token, teacher or student: every handshake of a
    join storm asks it."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    hashed = token_hash(token)
    row = await store.one(
        "SELECT t.kind, t.created_at, t.expires_at, u.id AS user_id, u.username,"
        " st.id AS student_id, st.name, st.section_id, st.seen_at, se.class_id"
        " FROM tokens t"
        " LEFT JOIN users u ON t.kind = 'teacher' AND u.id = t.subject_id"
        " LEFT JOIN students st ON t.kind = 'student' AND st.id = t.subject_id"
        " LEFT JOIN sections se ON se.id = st.section_id"
        " WHERE t.token_hash = ?",
        (hashed,),
    )
    if row is None or not await _live_token(store, hashed, row["created_at"], row["expires_at"]):
        return None
    if row["kind"] == "teacher":
        if row["user_id"] is None:
            return None
        return Principal("teacher", row["user_id"], row["username"], hashed)
    if row["student_id"] is None or row["class_id"] is None:
        return None
    return Principal(
        "student", row["student_id"], row["name"], hashed, row["class_id"],
        row["section_id"], row["seen_at"] is not None,
    )


async def check_login(store: Store, username: str, password: str) -> tuple[int, str] | None:
    row = await store.one(
        "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
    )
    if row is None:
        await verify_password(password, _DUMMY_HASH)
        return None
    if not await verify_password(password, row["password_hash"]):
        return None
    return int(row["id"]), str(row["username"])


async def create_teacher(store: Store, username: str, password: str) -> int:
    """Raises sqlite3.IntegrityError when the username is taken."""
    hashed = await hash_password(password)
    async with store.write() as tx:
        cur = await tx.execute(
            "INSERT INTO users (username, password_hash, role, created_at)"
            " VALUES (?, ?, 'teacher', ?)",
            (username, hashed, iso(utcnow())),
        )
        return int(cur.lastrowid or 0)


async def teacher_count(store: Store) -> int:
    row = await store.one("SELECT COUNT(*) FROM users")
    return int(row[0]) if row else 0
