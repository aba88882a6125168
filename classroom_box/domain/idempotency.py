"""Exactly once by key: the `Idempotency-Key` records behind answers and asks.

Semantics of the IETF HTTP `Idempotency-Key` draft: the first request with a key is processed and
its response stored in the same transaction as its effect; the same key with the same request
again gets that stored response (replayed, nothing done twice); the same key with a different
request is refused (422), since the key can no longer say which of the two the client meant.
Keys are scoped per student, so one student cannot collide with (or probe) another's keys. It
must never store a key apart from the effect it stands for (same transaction, always).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from typing import Any

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def check_key(key: object) -> str:
    """A usable key or a 400: without one the box could not tell a retry from a new request."""
    if key is None or key == "":
        raise ApiError(400, "idempotency_key_missing",
                       "send an Idempotency-Key (8-64 characters A-Z a-z 0-9 _ -)")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ApiError(400, "idempotency_key_invalid",
                       "an Idempotency-Key is 8-64 characters A-Z a-z 0-9 _ -")
    return key


def fingerprint(action: str, target: int | None, body: Any) -> str:
    """What the request meant, after normalisation (so [2, 0] and [0, 2] are the same answer)."""
    text = json.dumps([action, target, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


RECALL = "SELECT fingerprint, response FROM idempotency_keys WHERE student_id = ? AND key = ?"
REMEMBER = ("INSERT INTO idempotency_keys (student_id, key, fingerprint, response, created_seq)"
            " VALUES (?, ?, ?, ?, COALESCE((SELECT seq FROM sqlite_sequence"
            " WHERE name = 'events'), 0))")


def replay_of(row: sqlite3.Row | None, print_: str) -> dict[str, Any] | None:
    """The stored response of a key's row, None if the key is new, 422 if it meant something
    else."""
    if row is None:
        return None
    if row["fingerprint"] != print_:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was already used for a different request")
    return dict(json.loads(row["response"]))


def _record(student_id: int, key: str, print_: str, response: dict[str, Any]) -> tuple[Any, ...]:
    return (student_id, key, print_, json.dumps(response, separators=(",", ":")))


async def recall(tx: Tx, student_id: int, key: str, print_: str) -> dict[str, Any] | None:
    return replay_of(await tx.one(RECALL, (student_id, key)), print_)


async def remember(tx: Tx, student_id: int, key: str, print_: str,
                   response: dict[str, Any]) -> None:
    await tx.execute(REMEMBER, _record(student_id, key, print_, response))


def recall_now(tx: SyncTx, student_id: int, key: str, print_: str) -> dict[str, Any] | None:
    """`recall` for a synchronous body (`Store.apply`)."""
    return replay_of(tx.one(RECALL, (student_id, key)), print_)


def remember_now(tx: SyncTx, student_id: int, key: str, print_: str,
                 response: dict[str, Any]) -> None:
    tx.execute(REMEMBER, _record(student_id, key, print_, response))


async def prune(store: Store) -> int:
    """Forget the keys stored before the oldest event the log still keeps.

    A client retries for at most the replay window, and the event log already decides what is
    older than that without trusting a jumping wall clock (events.py), so keys follow it: a key
    stored before event `pruned_through` was logged is older than that pruned event.
    """
    async with store.write() as tx:
        cur = await tx.execute(
            "DELETE FROM idempotency_keys WHERE created_seq < COALESCE((SELECT CAST(value AS"
            " INTEGER) FROM meta WHERE key = 'pruned_through'), 0)")
        return cur.rowcount
