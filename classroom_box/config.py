"""One settings table: every knob of the box, from `CLASSROOM_BOX_*`, overridden by CLI flags.
It owns every setting and must never import anything of ours: every layer may read it (except the
domain, which is handed values).

Keeping name, type, default and help in one table means `serve --help`, the environment and the
README cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "CLASSROOM_BOX_"


def default_data_dir() -> Path:
    """systemd's StateDirectory when run as a service, else a per-user data dir (XDG on Linux)
    so a laptop install needs no root. A service user may have no home at all (DynamicUser):
    that must not stop the box from starting (`Path.home()` raises then)."""
    if state := os.environ.get("STATE_DIRECTORY"):
        return Path(state.split(":")[0])
    base = os.environ.get("XDG_DATA_HOME")
    if not base:
        try:
            base = str(Path.home() / ".local" / "share")
        except RuntimeError:
            base = "/var/lib"
    return Path(base) / "classroom-box"


def parse_bool(text: str) -> bool:
    """Strict booleans: a typo in an env file should fail loudly, not silently mean False."""
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1: {text!r}")
    return value


def _opt_path(text: str) -> Path | None:
    return Path(text) if text else None


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    help: str
    formerly: str = ""  # an earlier name, still read from the environment and the command line


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "address to listen on"),
    Setting("port", int, "TCP port to listen on"),
    Setting("data_dir", Path, "directory holding the SQLite database and the box's secrets"),
    Setting("name", str, "room name shown to students and advertised over mDNS"),
    Setting("replay_window", float, "hours of events kept for reconnecting clients"),
    Setting("log_level", str, "DEBUG, INFO, WARNING or ERROR"),
    Setting("mdns", parse_bool, "advertise the box over mDNS (false: --no-mdns)"),
    Setting("mdns_interface", str, "comma-separated interface addresses for mDNS (default: LAN)"),
    Setting("tls_cert", _opt_path, "PEM certificate: serve HTTPS"),
    Setting("tls_key", _opt_path, "PEM private key for --tls-cert"),
    Setting("teacher_login_hours", float, "hours a teacher login stays valid",
            formerly="teacher_session_hours"),
    Setting("max_connections_per_address", int,
            "open sockets allowed per client address (a class behind one NAT shares one)"),
    Setting("max_http_connections_per_address", int,
            "open TCP connections (websockets included) allowed per client address"),
    Setting("socket_refusals_per_address", int,
            "refused Socket.IO attempts (sessions over the cap, failed logins, bad packets) an"
            " address may make at once, then one a second; beyond, its Socket.IO requests get"
            " 429"),
    Setting("max_students_per_section", int,
            "students who may join one section (a join flood stops there)"),
    Setting("public_host", str, "host or IP put in join URLs (default: the LAN IP)"),
    Setting("clock_settle", float,
            "seconds the wall clock must run without a jump before a schedule may be declared"
            " missed or events pruned by wall time"),
    Setting("data_retention_days", positive_int,
            "days an ended lecture's attendance, answers and asks are kept, then deleted"),
)


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    name: str = "Classroom"
    replay_window: float = 24.0
    log_level: str = "INFO"
    mdns: bool = True
    mdns_interface: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    teacher_login_hours: float = 12.0
    max_connections_per_address: int = 200
    max_http_connections_per_address: int = 256
    socket_refusals_per_address: int = 40
    max_students_per_section: int = 200
    public_host: str = ""
    clock_settle: float = 60.0
    data_retention_days: int = 365

    @property
    def db_path(self) -> Path:
        return self.data_dir / "classroom-box.db"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(ENV_PREFIX + setting.name.upper())
            if not raw and setting.formerly:  # an env file written for an older box
                raw = environ.get(ENV_PREFIX + setting.formerly.upper())
            if raw is not None and raw != "":
                try:
                    values[setting.name] = setting.parse(raw)
                except ValueError as exc:
                    raise SystemExit(f"{ENV_PREFIX}{setting.name.upper()}: {exc}") from exc
        return cls(**values)


DEFAULTS: dict[str, Any] = {f.name: getattr(Settings(), f.name) for f in fields(Settings)}


def add_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Add one flag per setting; defaults stay None so the environment is not overridden."""
    for setting in SETTINGS:
        if only is not None and setting.name not in only:
            continue
        flag = "--" + setting.name.replace("_", "-")
        flags = [flag, "--" + setting.formerly.replace("_", "-")] if setting.formerly else [flag]
        env = ENV_PREFIX + setting.name.upper()
        default = DEFAULTS[setting.name]
        shown = f"default {default}; " if default not in (None, "") else ""
        if setting.parse is parse_bool:
            parser.add_argument(
                *flags, dest=setting.name, action=argparse.BooleanOptionalAction, default=None,
                help=f"{setting.help} [{shown}env {env}]",
            )
        else:
            parser.add_argument(
                *flags, dest=setting.name, type=setting.parse, default=None,
                help=f"{setting.help} [{shown}env {env}]",
            )


def settings_from_args(args: argparse.Namespace,
                       environ: Mapping[str, str] | None = None) -> Settings:
    """Environment first, then any flag given on the command line."""
    base = Settings.from_env(environ)
    names = {f.name for f in fields(Settings)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return base.with_overrides(**given)
