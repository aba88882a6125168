"""The settings table: the environment, flags overriding it, and names kept from earlier releases."""

from __future__ import annotations

import argparse
import pwd
from pathlib import Path

import pytest

from classroom_box.config import Settings, add_arguments, settings_from_args


def parse(argv: list[str], environ: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from_args(parser.parse_args(argv), environ)


def test_flag_beats_environment() -> None:
    env = {"CLASSROOM_BOX_PORT": "9000", "CLASSROOM_BOX_TEACHER_LOGIN_HOURS": "3"}
    assert parse([], env).port == 9000
    assert parse(["--port", "9100"], env).port == 9100
    assert parse([], env).teacher_login_hours == 3.0


def test_former_login_hours_names_still_work() -> None:
    """An env file or unit written for an older box said "session"; it must not be ignored."""
    assert parse([], {"CLASSROOM_BOX_TEACHER_SESSION_HOURS": "2"}).teacher_login_hours == 2.0
    assert parse(["--teacher-session-hours", "5"], {}).teacher_login_hours == 5.0
    both = {"CLASSROOM_BOX_TEACHER_SESSION_HOURS": "2", "CLASSROOM_BOX_TEACHER_LOGIN_HOURS": "4"}
    assert parse([], both).teacher_login_hours == 4.0


def test_a_service_user_without_a_home_can_start_the_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd's DynamicUser runs the box as a uid with no passwd entry and no HOME: reading the
    settings must not fail there (it did: `Path.home()` raised before `serve` parsed a flag).

    Faked here: the missing passwd entry (`pwd.getpwuid` raising, as it does for such a uid),
    because a uid without one cannot reach this checkout's interpreter under /root. The real
    thing runs in scripts/check-machine, which starts the unit under systemd.
    """
    for name in ("HOME", "XDG_DATA_HOME", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert Settings().data_dir == Path("/var/lib/classroom-box")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/private/classroom-box")
    assert Settings().data_dir == Path("/var/lib/private/classroom-box")
