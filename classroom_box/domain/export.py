"""Everything the box holds about one teacher's classes, as one ZIP of CSV files.

For the school's records and for a data-protection request: classes, sections, students,
lectures and attendance (the same report as the teacher page). Read with a read-only SQLite
connection, so it is safe while the box serves (WAL readers never block the writer). The file is
written next to its destination and renamed into place, so a half-written ZIP never exists.
"""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path

from classroom_box.domain.attendance_report import (
    CSV_HEADER,
    INTERVALS_SQL,
    LECTURE_SQL,
    STUDENTS_SQL,
    student_params,
    summarize,
)
from classroom_box.domain.csvfile import csv_bytes
from classroom_box.domain.validation import utcnow

TABLES: dict[str, str] = {
    "classes.csv": "SELECT id AS class_id, name, created_at, archived_at FROM classes"
                   " WHERE teacher_id = ? ORDER BY id",
    "sections.csv": "SELECT s.id AS section_id, s.class_id, s.name, s.join_code FROM sections s"
                    " JOIN classes c ON c.id = s.class_id WHERE c.teacher_id = ? ORDER BY s.id",
    "students.csv": "SELECT st.id AS student_id, st.section_id, st.name,"
                    " st.created_at AS joined_at, st.last_seen, st.removed_at FROM students st"
                    " JOIN sections s ON s.id = st.section_id JOIN classes c ON c.id = s.class_id"
                    " WHERE c.teacher_id = ? ORDER BY st.id",
    "lectures.csv": "SELECT id AS session_id, class_id, section_id, subject, title, status,"
                    " start_time, end_time, duration_minutes, ended_by, progress, note, summary"
                    " FROM lecture_sessions WHERE teacher_id = ? ORDER BY id",
}


class ExportError(Exception):
    pass


def export_teacher(db_path: Path, username: str, target: Path) -> dict[str, int]:
    """Write the ZIP; returns the number of rows per file."""
    if not db_path.exists():
        raise ExportError(f"no database at {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("BEGIN")  # one snapshot for every file
        user = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
        if user is None:
            raise ExportError(f"no teacher named {username!r}")
        files = {name: _table(conn, sql, user["id"]) for name, sql in TABLES.items()}
        files["attendance.csv"] = _attendance(conn, user["id"])
    finally:
        conn.close()
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, _) in files.items():
            archive.writestr(name, data)
    os.replace(partial, target)
    return {name: rows for name, (_, rows) in files.items()}


def _table(conn: sqlite3.Connection, sql: str, teacher_id: int) -> tuple[bytes, int]:
    cursor = conn.execute(sql, (teacher_id,))
    header = [column[0] for column in cursor.description]
    rows = [tuple(row) for row in cursor]
    return csv_bytes(header, rows), len(rows)


def _attendance(conn: sqlite3.Connection, teacher_id: int) -> tuple[bytes, int]:
    now = utcnow()
    rows = []
    sessions = conn.execute("SELECT id FROM lecture_sessions WHERE teacher_id = ? ORDER BY id",
                            (teacher_id,)).fetchall()
    for (session_id,) in sessions:
        lecture = dict(conn.execute(LECTURE_SQL, (session_id,)).fetchone())
        students = conn.execute(STUDENTS_SQL, student_params(lecture, now)).fetchall()
        intervals = conn.execute(INTERVALS_SQL, (session_id,)).fetchall()
        rows += [(session_id, *line.as_row())
                 for line in summarize(lecture, students, intervals, now)]
    return csv_bytes(("session_id", *CSV_HEADER), rows), len(rows)
