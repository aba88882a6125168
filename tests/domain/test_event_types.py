"""One source of event names and object fields: Python, with a generated copy for the pages."""

from __future__ import annotations

import re
from pathlib import Path

from classroom_box.domain.event_types import EVENT_TYPES, JS_PATH, LECTURE_FIELDS, js_module
from classroom_box.domain.lectures import LECTURE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]


def test_generated_js_module_is_current() -> None:
    on_disk = (ROOT / JS_PATH).read_text(encoding="utf-8")
    assert on_disk == js_module(), f"{JS_PATH} is stale: run scripts/gen-event-types"


def test_pages_take_event_names_from_the_generated_module() -> None:
    """No page keeps its own list: the names appear in the generated module only."""
    for path in (ROOT / "static" / "js").glob("*.js"):
        if path.name == Path(JS_PATH).name:
            continue
        text = path.read_text(encoding="utf-8")
        assert '"lecture_progress_update",' not in text, f"{path.name} lists the events itself"


def test_lecture_columns_are_the_lecture_fields() -> None:
    # top-level commas only: a derived field (planned_end) is an expression with commas inside
    items = re.split(r",(?![^()]*\))", LECTURE_COLUMNS)
    selected = [c.strip().split(" AS ")[-1] for c in items]
    assert tuple(selected) == LECTURE_FIELDS
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
