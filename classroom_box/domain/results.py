"""What the class answered: tallies, the teacher's result table and its CSV export.

Pure functions over a question and its answer rows, so the tally a teacher sees live, the one in
`state_sync`, the revealed one and the CSV are computed by the same code. They never touch the
database, and never let student text become a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_HEADER = ("student_id", "name", "value", "answered_at", "correct")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula injection


def counts(question: dict[str, Any], values: list[Any]) -> list[int] | None:
    """Per option, how many students chose it; None for text and number questions."""
    if question["kind"] not in ("single", "multiple"):
        return None
    tally = [0] * len(question["options"])
    for value in values:
        for index in value if isinstance(value, list) else [value]:
            tally[index] += 1
    return tally


def summary(question: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """`{answered, counts}` (counts only for option questions): what students may see."""
    found: dict[str, Any] = {"answered": len(values)}
    tally = counts(question, values)
    if tally is not None:
        found["counts"] = tally
    return found


def is_correct(question: dict[str, Any], value: Any) -> bool | None:
    """None when the question has no right answer to compare with."""
    correct = question.get("correct")
    if correct is None or question["kind"] not in ("single", "multiple"):
        return None
    chosen = sorted(value) if isinstance(value, list) else [value]
    return chosen == sorted(correct)


def to_csv(question: dict[str, Any], answers: list[dict[str, Any]]) -> str:
    """RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for a in answers:
        right = is_correct(question, a["value"])
        writer.writerow((a["student_id"], _cell(a["name"]), _csv_value(a["value"]),
                         a["answered_at"], "" if right is None else str(right).lower()))
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(i) for i in value)
    if isinstance(value, str):
        return _cell(value)
    return str(value)


def _cell(text: str) -> str:
    """Student-typed text must not become a formula when the teacher opens the file."""
    return "'" + text if text.startswith(FORMULA_START) else text
