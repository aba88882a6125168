"""What can IT type? `serve`, `teacher add|list|unlock|passwd|remove`, and appliance commands.
It owns the command line and must never be imported (only `__main__` runs it) nor run anything on a
serving box's event loop.

argparse, not click: the flags come straight from the settings table in config.py.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from classroom_box import __version__
from classroom_box.config import add_arguments, settings_from_args
from classroom_box.domain import accounts

DESCRIPTION = ("The classroom box: keeps every student's device in step with the teacher on the"
               " classroom network, with no internet. `serve` runs it; the other commands"
               " manage teachers, backups, certificates and the network limit.")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroom-box", description=DESCRIPTION)
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
    add_account_commands(teacher)
    add_appliance_commands(sub)
    return parser


def add_account_commands(teacher: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    unlock = teacher.add_parser("unlock", help="forget failed logins for a teacher (also while"
                                " serving)")
    passwd = teacher.add_parser("passwd", help="set a new password (stdin or a prompt); ends the"
                                " teacher's logins")
    remove = teacher.add_parser("remove", help="delete a teacher account and its logins")
    remove.add_argument("--with-classes", action="store_true",
                        help="also delete the teacher's classes, students and lecture history")
    for parser, func in ((unlock, cmd_teacher_unlock), (passwd, cmd_teacher_passwd),
                         (remove, cmd_teacher_remove)):
        parser.add_argument("username")
        add_arguments(parser, only=("data_dir",))
        parser.set_defaults(func=func)


def add_appliance_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    discover = sub.add_parser("discover", help="list the classroom-boxes on this LAN")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to listen")
    discover.set_defaults(func=cmd_discover)
    qr = sub.add_parser("qr", help="print a join QR code in the terminal")
    qr.add_argument("--section", type=int, help="section id (default: the box's join page)")
    add_arguments(qr, only=("data_dir", "port", "public_host", "mdns_interface", "tls_cert"))
    qr.set_defaults(func=cmd_qr)
    tls = sub.add_parser("tls", help="HTTPS certificates").add_subparsers(
        dest="tls_command", required=True)
    init = tls.add_parser("init", help="make a local CA and a server certificate")
    add_arguments(init, only=("data_dir",))
    init.set_defaults(func=cmd_tls_init)
    limit = sub.add_parser("connection-limit", help="print, --apply or --remove the kernel's"
                           " per-device limit on new connections (nftables; as root)")
    action = limit.add_mutually_exclusive_group()
    action.add_argument("--apply", action="store_true", help="load it for the box's port")
    action.add_argument("--remove", action="store_true", help="delete it")
    add_arguments(limit, only=("port",))
    limit.set_defaults(func=cmd_connection_limit)
    backup = sub.add_parser("backup", help="consistent copy of the database, also while serving")
    backup.add_argument("path", type=Path)
    add_arguments(backup, only=("data_dir",))
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the database (refused while serving)")
    restore.add_argument("path", type=Path)
    add_arguments(restore, only=("data_dir",))
    restore.set_defaults(func=cmd_restore)
    export = sub.add_parser("export", help="one teacher's classes, students, lectures and"
                                           " attendance as a ZIP of CSV files")
    export.add_argument("--teacher", required=True, help="the teacher's username")
    export.add_argument("path", type=Path, help="the ZIP file to write")
    add_arguments(export, only=("data_dir",))
    export.set_defaults(func=cmd_export)


def setup_logging(level: str) -> None:
    """One line per event, no colour: journald keeps it well."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
    from classroom_box.domain.auth import create_teacher
    from classroom_box.domain.store import Store

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


def run_account_command(args: argparse.Namespace, action: Any) -> int:
    """Open the store, run `action(store)`, print its message or the AccountError's."""
    from classroom_box.domain.accounts import AccountError
    from classroom_box.domain.store import Store

    settings = settings_from_args(args)
    if not settings.db_path.exists():
        print("no database yet", file=sys.stderr)
        return 1

    async def run() -> str:
        store = Store(settings.db_path)
        await store.open()
        try:
            return str(await action(store))
        finally:
            await store.close()

    try:
        print(asyncio.run(run()))
    except AccountError as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_teacher_unlock(args: argparse.Namespace) -> int:
    from classroom_box.domain import accounts

    async def action(store: Any) -> str:
        await accounts.unlock(store, args.username)
        return f"teacher {args.username!r} unlocked"

    return run_account_command(args, action)


def cmd_teacher_passwd(args: argparse.Namespace) -> int:
    from classroom_box.domain import accounts

    password = read_password()
    if len(password) < 8:
        print("password must have at least 8 characters", file=sys.stderr)
        return 2

    async def action(store: Any) -> str:
        await accounts.set_password(store, args.username, password)
        return f"password of {args.username!r} changed; their logins have ended"

    return run_account_command(args, action)


def cmd_teacher_remove(args: argparse.Namespace) -> int:
    from classroom_box.domain import accounts

    async def action(store: Any) -> str:
        classes = await accounts.remove_teacher(store, args.username, args.with_classes)
        return f"teacher {args.username!r} removed" + (
            f" with {classes} class(es)" if classes else "")

    return run_account_command(args, action)


def cmd_teacher_list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not settings.db_path.exists():
        print("no database yet", file=sys.stderr)
        return 0
    for user_id, username, created in accounts.teachers(settings.db_path):
        print(f"{user_id}\t{username}\t{created}")
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    from classroom_box.appliance.discovery import discover

    boxes = asyncio.run(discover(args.timeout))
    if not boxes:
        print("no classroom-box found on this LAN", file=sys.stderr)
        return 1
    for found in boxes:
        print(f"{found.name}\t{' '.join(found.urls)}\tversion {found.version}\tid {found.id}")
    return 0


def cmd_qr(args: argparse.Namespace) -> int:
    from classroom_box.appliance.qr import terminal_qr
    from classroom_box.web.urls import as_served, base_url

    settings = settings_from_args(args)
    if args.port is None and not os.environ.get("CLASSROOM_BOX_PORT"):
        settings = as_served(settings)  # the port the box serves on, not the default
    url = base_url(settings) + "/"
    if args.section is not None:
        sections = accounts.sections(settings.db_path)
        codes = {sid: code for sid, _, _, code in sections}
        if args.section not in codes:
            known = "".join(f"\n  {sid}: {cls} / {name}" for sid, cls, name, _ in sections)
            print(f"no section {args.section}; sections:{known or ' none yet'}", file=sys.stderr)
            return 1
        url = f"{base_url(settings)}/join/{codes[args.section]}"
    print(terminal_qr(url, ascii_only=(sys.stdout.encoding or "").lower() not in
                      ("utf-8", "utf8")))
    print(url)
    return 0


def cmd_tls_init(args: argparse.Namespace) -> int:
    import socket

    from classroom_box.appliance.discovery import box_id
    from classroom_box.appliance.netinfo import lan_addresses, local_hostname
    from classroom_box.appliance.tls import TlsError, how_to_install_ca_text, init_tls

    settings = settings_from_args(args)
    names = [local_hostname(box_id(settings.data_dir)).rstrip("."),
             socket.gethostname() + ".local", "localhost"]
    try:
        paths = init_tls(settings.data_dir, names, [*lan_addresses(), "127.0.0.1"])
    except TlsError as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    print(how_to_install_ca_text(paths))
    return 0


def cmd_connection_limit(args: argparse.Namespace) -> int:
    from classroom_box.appliance import connlimit

    port = settings_from_args(args).port
    if not (args.apply or args.remove):
        print(connlimit.ruleset(port), end="")
        return 0
    try:
        if args.apply:
            connlimit.apply(port)
            print(f"new connections to port {port}: at most {connlimit.RATE_PER_SECOND}/s per"
                  f" address (burst {connlimit.BURST})")
        else:
            connlimit.remove()
            print("connection limit removed")
    except connlimit.NftError as exc:
        print(f"connection-limit: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from classroom_box.appliance.backup import BackupError, backup_database

    settings = settings_from_args(args)
    try:
        written = backup_database(settings.db_path, args.path)
    except BackupError as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {written}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from classroom_box.appliance.backup import BackupError, restore_database
    from classroom_box.appliance.lock import AlreadyServing

    settings = settings_from_args(args)
    try:
        moved = restore_database(args.path, settings.db_path, settings.data_dir)
    except (AlreadyServing, BackupError) as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.path}" + (f" (previous database kept as {moved})" if moved else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from classroom_box.domain.export import ExportError, export_teacher

    settings = settings_from_args(args)
    try:
        counts = export_teacher(settings.db_path, args.teacher, args.path)
    except (ExportError, OSError, sqlite3.Error) as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    print(f"exported to {args.path}: " + ", ".join(f"{n} ({c} rows)" for n, c in counts.items()))
    return 0
