"""Input rules, declared once: they validate requests and socket events and describe the OpenAPI.
It must never trust a JSON type (a bool is not an int) nor raise anything but `ApiError` for bad
input.

A `Schema` is a mapping of field name to `Field`. `validate()` returns a clean dict or raises
`ApiError(422)`; it never trusts JSON types (a bool is not an int, a float is not an int).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L look-alikes
JOIN_CODE_RE = re.compile(f"^[{JOIN_ALPHABET}]{{6}}$")


class ApiError(Exception):
    """An answer for the client: HTTP status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


@dataclass(frozen=True)
class Field:
    kind: str  # "str", "name", "int", "id", "time", "code", "str_list", "int_list", "bool",
    #            "choice", "any"
    required: bool = True
    max_len: int = 200
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        if self.kind in LOOSE_KINDS:
            return LOOSE_KINDS[self.kind](self)
        if self.kind in ("str", "name"):
            return {"type": "string", "minLength": 1 if self.required else 0,
                    "maxLength": self.max_len}
        if self.kind == "code":
            return {"type": "string", "pattern": f"^[{JOIN_ALPHABET}{JOIN_ALPHABET.lower()}]{{6}}$"}
        if self.kind == "time":
            return {"type": "string", "format": "date-time"}
        if self.kind == "str_list":
            return {"type": "array", "minItems": 1, "maxItems": self.max or 20,
                    "items": {"type": "string", "minLength": 1, "maxLength": self.max_len}}
        schema: dict[str, Any] = {"type": "integer"}
        if self.min is not None:
            schema["minimum"] = self.min
        if self.max is not None:
            schema["maximum"] = self.max
        return schema


Schema = dict[str, Field]


def json_schema(schema: Schema) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: f.json_schema() for name, f in schema.items()},
        "required": [name for name, f in schema.items() if f.required],
    }


def small_int_text(text: str) -> bool:
    """Decimal ASCII digits that fit an SQLite integer. str.isdigit() alone also accepts
    '²' or '٣', which int() then refuses (a 500 that schemathesis found)."""
    return text.isascii() and text.isdigit() and len(text) < 19


def query_values(args: Any) -> dict[str, Any]:
    """A query string as a body to validate: digit strings count as integers."""
    return {k: int(v) if small_int_text(v) else v for k, v in args.items()}


def validate(data: object, schema: Schema) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid("expected a JSON object")
    clean: dict[str, Any] = {}
    for name, rule in schema.items():
        value = data.get(name)
        if value is None:
            if rule.required:
                raise invalid(f"'{name}' is required")
            continue
        clean[name] = _check(name, value, rule)
    return clean


def _check(name: str, value: object, rule: Field) -> Any:
    if rule.kind in LOOSE_CHECKS:
        return LOOSE_CHECKS[rule.kind](name, value, rule)
    if rule.kind in ("int", "id"):
        return _check_int(name, value, rule)
    if rule.kind == "str_list":
        if not isinstance(value, list) or not value or len(value) > (rule.max or 20):
            raise invalid(f"'{name}' must be a list of 1 to {rule.max or 20} names")
        items = [_check_str(name, item, rule) for item in value]
        if len({i.casefold() for i in items}) != len(items):
            raise invalid(f"'{name}' has duplicates")
        return items
    if rule.kind == "name":
        value = normalise_name(value) if isinstance(value, str) else value
    text = _check_str(name, value, rule)
    if rule.kind == "code":
        code = text.upper()
        if not JOIN_CODE_RE.match(code):
            raise invalid(f"'{name}' must be 6 letters or digits")
        return code
    if rule.kind == "time":
        return parse_time(name, text)
    return text


def _check_int(name: str, value: object, rule: Field) -> int:
    low = 1 if rule.kind == "id" and rule.min is None else rule.min
    high = 2**62 if rule.kind == "id" and rule.max is None else rule.max
    if type(value) is not int:
        raise invalid(f"'{name}' must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(f"'{name}' must be between {low} and {high}")
    return value


def _check_str(name: str, value: object, rule: Field) -> str:
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string")
    text = value.strip()
    if "\x00" in text:
        raise invalid(f"'{name}' must not contain NUL characters")
    if rule.required and not text:
        raise invalid(f"'{name}' must not be empty")
    if len(text) > rule.max_len:
        raise invalid(f"'{name}' must be at most {rule.max_len} characters")
    return text


def normalise_name(text: str) -> str:
    """One spelling per visible name: NFC, no invisible or bidi control characters (Unicode
    categories Cc, Cf, Co, Cs, Zl, Zp), runs of spaces as one. "Emma Stone\u200b" and
    "\u202eenotS ammE" used to be roster entries that looked like "Emma Stone"."""
    text = unicodedata.normalize("NFC", text)
    visible = "".join(" " if c.isspace() else c for c in text
                      if c.isspace() or unicodedata.category(c) not in HIDDEN)
    return " ".join(visible.split())


HIDDEN = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def parse_time(name: str, text: str) -> datetime:
    """ISO 8601; without an offset it is the box's local time. Returns an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(f"'{name}' must be an ISO 8601 date and time") from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive -> box local time
    return moment.astimezone(UTC)


def from_iso(text: str) -> datetime:
    """Read back a time this box stored with `iso()`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- kinds added for answers, hands and pulses (issue 13) ------------------------------------
def _check_bool(name: str, value: object, rule: Field) -> bool:
    if type(value) is not bool:
        raise invalid(f"'{name}' must be true or false")
    return value


def _check_choice(name: str, value: object, rule: Field) -> str:
    if not isinstance(value, str) or value not in rule.choices:
        raise invalid(f"'{name}' must be one of {', '.join(rule.choices)}")
    return value


def _check_int_list(name: str, value: object, rule: Field) -> list[int]:
    """Distinct integers (e.g. option indices), in the order given."""
    if not isinstance(value, list) or not value or len(value) > (rule.max or 20):
        raise invalid(f"'{name}' must be a list of 1 to {rule.max or 20} integers")
    items = [_check_int(name, item, Field("int", min=rule.min)) for item in value]
    if len(set(items)) != len(items):
        raise invalid(f"'{name}' has duplicates")
    return items


LOOSE_CHECKS: dict[str, Any] = {
    "bool": _check_bool, "choice": _check_choice, "int_list": _check_int_list,
    # "any": the domain checks it against the object it is about (e.g. an answer's question)
    "any": lambda name, value, rule: value,
}
LOOSE_KINDS: dict[str, Any] = {
    "bool": lambda f: {"type": "boolean"},
    "choice": lambda f: {"enum": [*f.choices, *([] if f.required else [None])]},
    "int_list": lambda f: {"type": "array", "minItems": 1, "maxItems": f.max or 20,
                           "uniqueItems": True, "items": {"type": "integer", "minimum": 0}},
    "any": lambda f: {},
}
