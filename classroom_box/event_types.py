"""The names and shapes of the event stream in one place: Python is the source, pages get a copy.

Owns: which events carry a `seq` (`EVENT_TYPES`), the fields of a lecture and of a schedule object
as the box sends them. The event log refuses other names, `lectures.py` selects exactly these
columns, `client.py` subscribes to these names, and `static/js/event_types.js` is generated from
this module (`scripts/gen-event-types`; `tests/test_event_types.py` fails when it is stale), so
adding an event or a field is one edit here. It imports nothing of ours: everything else reads it.
"""

from __future__ import annotations

import json

EVENT_TYPES: tuple[str, ...] = (
    "lecture_started",
    "lecture_scheduled",
    "lecture_ended",
    "lecture_cancelled",
    "lecture_duration_update",
    "lecture_progress_update",
)

# The lecture object (a row of lecture_sessions; its id goes out as `session_id`).
LECTURE_FIELDS: tuple[str, ...] = (
    "session_id", "class_id", "section_id", "subject", "title", "topic_id", "status",
    "start_time", "end_time", "duration_minutes", "progress", "note", "summary", "schedule_id",
)

# The schedule object (a row of scheduled_lectures; its id goes out as `schedule_id`).
SCHEDULE_FIELDS: tuple[str, ...] = (
    "schedule_id", "class_id", "section_id", "subject", "title", "scheduled_time",
    "duration_minutes", "status", "session_id",
)

JS_PATH = "static/js/event_types.js"  # relative to the repository root


def js_module() -> str:
    """The ES module the pages import; generated, never edited by hand."""
    def const(name: str, values: tuple[str, ...]) -> str:
        return f"export const {name} = Object.freeze({json.dumps(list(values), indent=2)});\n"

    return (
        "// Generated from classroom_box/event_types.py by scripts/gen-event-types: do not edit.\n"
        "\n/** Events that carry a `seq` and change lecture state. */\n"
        + const("SEQ_EVENTS", EVENT_TYPES)
        + "\n/** The fields of a lecture object. */\n"
        + const("LECTURE_FIELDS", LECTURE_FIELDS)
        + "\n/** The fields of a schedule object. */\n"
        + const("SCHEDULE_FIELDS", SCHEDULE_FIELDS)
    )
