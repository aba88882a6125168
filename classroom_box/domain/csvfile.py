"""CSV the way spreadsheet programs open it: RFC 4180 (CRLF, minimal quoting), UTF-8 with a BOM.
It owns the file format and must never let a cell run as a formula.

The BOM is what makes Excel read the file as UTF-8, so "Zoë" is not shown as "ZoÃ«". A cell that
starts with `= + - @` (or a tab or CR) would run as a formula when the teacher opens the file, and
student names are typed by students: such a cell gets a leading apostrophe (OWASP's advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
