"""Brute force: login throttled per username and per address with growing delays; join codes too."""

from __future__ import annotations

import asyncio

from classroom_box.domain.auth import create_teacher
from classroom_box.domain.classes import JOIN_CODE_LENGTH
from classroom_box.domain.validation import JOIN_ALPHABET
from tests.helpers import PASSWORD, RunningBox
from tests.security_helpers import client_from


def login(username: str, password: str = "wrong-password") -> dict[str, str]:
    return {"username": username, "password": password}


async def test_login_throttled_per_device_with_growing_delay(box: RunningBox) -> None:
    await create_teacher(box.box.store, "alice", PASSWORD)
    async with client_from(box, "127.0.0.20") as guesser:
        for _ in range(5):  # five free failures for this device on this account
            assert (await guesser.post("/api/auth/login", json=login("alice"))).status_code == 401
        r = await guesser.post("/api/auth/login", json=login("ALICE", PASSWORD))
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        await asyncio.sleep(1.1)
        assert (await guesser.post("/api/auth/login", json=login("alice"))).status_code == 401
        r = await guesser.post("/api/auth/login", json=login("alice", PASSWORD))
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"  # the delay grows
        await asyncio.sleep(2.1)
        assert (await guesser.post("/api/auth/login", json=login("alice", PASSWORD))
                ).status_code == 200  # and the right password works once it has passed


async def test_guessing_from_many_devices_costs_each_device(box: RunningBox) -> None:
    """Issue 15: the username-wide count used to lock the real teacher out too."""
    await create_teacher(box.box.store, "alice", PASSWORD)
    for i in range(5):  # five failures, each from a different address: the account is hot
        async with client_from(box, f"127.0.0.{10 + i}") as c:
            assert (await c.post("/api/auth/login", json=login("alice"))).status_code == 401
    async with client_from(box, "127.0.0.10") as again:  # a device that failed must now wait
        assert (await again.post("/api/auth/login", json=login("alice"))).status_code == 429
    async with client_from(box, "127.0.0.16") as newcomer:  # one guess, then it waits too
        assert (await newcomer.post("/api/auth/login", json=login("alice"))).status_code == 401
        assert (await newcomer.post("/api/auth/login", json=login("alice"))).status_code == 429
    async with client_from(box, "127.0.0.20") as teacher:  # the teacher has not been failing
        assert (await teacher.post("/api/auth/login", json=login("alice", PASSWORD))
                ).status_code == 200


async def test_login_throttled_per_address(box: RunningBox) -> None:
    await create_teacher(box.box.store, "alice", PASSWORD)
    async with client_from(box, "127.0.0.30") as attacker:
        for i in range(5):  # spraying different usernames from one address
            assert (await attacker.post("/api/auth/login", json=login(f"user{i}"))
                    ).status_code == 401
        r = await attacker.post("/api/auth/login", json=login("user0"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    async with client_from(box, "127.0.0.31") as teacher:  # the real teacher is not locked out
        assert (await teacher.post("/api/auth/login", json=login("alice", PASSWORD))
                ).status_code == 200


async def test_join_code_guessing_throttled_per_address(box: RunningBox) -> None:
    teacher = await box.teacher()
    code = (await teacher.make_class())["sections"][0]["join_code"]
    guesses = [c * JOIN_CODE_LENGTH for c in JOIN_ALPHABET if c * JOIN_CODE_LENGTH != code]
    async with client_from(box, "127.0.0.40") as guesser:
        for guess in guesses[:10]:  # ten free mistakes: a class mistyping codes is fine
            r = await guesser.post("/api/join", json={"join_code": guess, "name": "x"})
            assert r.status_code == 404
        r = await guesser.get(f"/api/join/{guesses[10]}")
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        r = await guesser.post("/api/join", json={"join_code": code, "name": "x"})
        assert r.status_code == 200  # the right code always passes (issue 15: a guessing
        # classmate on the same NAT address used to block everyone's join)
    async with client_from(box, "127.0.0.41") as classmate:
        assert (await classmate.post("/api/join", json={"join_code": code, "name": "y"})
                ).status_code == 200


def test_join_code_entropy() -> None:
    assert len(JOIN_ALPHABET) == 31 and JOIN_CODE_LENGTH == 6
    assert len(JOIN_ALPHABET) ** JOIN_CODE_LENGTH > 850_000_000
