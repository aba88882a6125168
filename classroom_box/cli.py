"""What can IT type? `serve`, `teacher add|list`, and the appliance commands.

argparse, not click: the flags come straight from the settings table in config.py.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sqlite3
import sys

from classroom_box import __version__
from classroom_box.config import Settings, add_arguments, settings_from_args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroom-box", description=__doc__)
    parser.add_argument("--version", action="version", version=f"classroom-box {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the box")
    add_arguments(serve)
    serve.set_defaults(func=cmd_serve)
    teacher = sub.add_parser("teacher", help="manage teacher accounts").add_subparsers(
        dest="teacher_command", required=True)
    add = teacher.add_parser("add", help="create a teacher (password from stdin or a prompt)")
    add.add_argument("username")
    add_arguments(add, only=("data_dir",))
    add.set_defaults(func=cmd_teacher_add)
    listing = teacher.add_parser("list", help="list teachers")
    add_arguments(listing, only=("data_dir",))
    listing.set_defaults(func=cmd_teacher_list)
    return parser


def setup_logging(level: str) -> None:
    """One line per event, no colour: journald keeps it well."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def teachers_exist(settings: Settings) -> bool:
    if not settings.db_path.exists():
        return False
    with sqlite3.connect(settings.db_path) as conn:
        try:
            return bool(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        except sqlite3.OperationalError:
            return False


def cmd_serve(args: argparse.Namespace) -> int:
    from classroom_box.server import serve

    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    return serve(settings)


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise SystemExit("passwords do not match")
    return first


def cmd_teacher_add(args: argparse.Namespace) -> int:
    from classroom_box.auth import create_teacher
    from classroom_box.store import Store

    settings = settings_from_args(args)
    username = args.username.strip()
    if not username or len(username) > 80:
        print("username must be 1 to 80 characters", file=sys.stderr)
        return 2
    password = read_password()
    if len(password) < 8:
        print("password must have at least 8 characters", file=sys.stderr)
        return 2

    async def run() -> int:
        store = Store(settings.db_path)
        await store.open()
        try:
            return await create_teacher(store, username, password)
        finally:
            await store.close()

    try:
        user_id = asyncio.run(run())
    except sqlite3.IntegrityError:
        print(f"a teacher named {username!r} already exists", file=sys.stderr)
        return 1
    print(f"teacher {username!r} created (id {user_id})")
    return 0


def cmd_teacher_list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not settings.db_path.exists():
        print("no database yet", file=sys.stderr)
        return 0
    with sqlite3.connect(settings.db_path) as conn:
        for user_id, username, created in conn.execute(
            "SELECT id, username, created_at FROM users ORDER BY id"
        ):
            print(f"{user_id}\t{username}\t{created}")
    return 0
