"""Lecture history: newest first, pages that neither skip nor repeat (also on equal end times),
teachers see attendance counts, students only their own section's lectures."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import running_box


async def test_history_pages_newest_first_without_gaps(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A", "B"))
        a, b = (s["section_id"] for s in cls["sections"])
        student = await box.student(cls["sections"][0]["join_code"], "Kim")
        ends = [("A1", a, "2026-03-02T08:45:00Z"), ("A2", a, "2026-03-02T09:45:00Z"),
                ("B1", b, "2026-03-02T09:45:00Z"), ("A3", a, "2026-03-02T09:45:00Z"),
                ("A4", a, "2026-03-03T08:45:00Z")]
        async with box.box.store.write() as tx:
            await tx.execute("UPDATE students SET created_at = '2026-01-01T00:00:00Z'")
            for title, section, end in ends:
                await tx.execute(
                    "INSERT INTO lecture_sessions (class_id, section_id, teacher_id, subject,"
                    " title, status, start_time, end_time, duration_minutes, ended_by)"
                    " VALUES (?, ?, ?, 'M', ?, 'ended', '2026-03-01T08:00:00Z', ?, 45,"
                    " 'teacher')", (cls["class_id"], section, teacher.id, title, end))

        titles, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"before": cursor} if cursor else {})}
            page = (await teacher.get("/api/lectures/history", **params)).json()
            titles += [lec["title"] for lec in page["lectures"]]
            assert all(lec["attendance"] == {"present": 0, "late": 0, "absent": 1}
                       for lec in page["lectures"] if lec["section_id"] == a)
            pages += 1
            cursor = page["next_before"]
            if cursor is None:
                break
        assert titles == ["A4", "A3", "B1", "A2", "A1"] and pages == 3

        only_b = (await teacher.get("/api/lectures/history", section_id=b)).json()
        assert [lec["title"] for lec in only_b["lectures"]] == ["B1"]
        before = (await teacher.get("/api/lectures/history",
                                    before="2026-03-02T09:45:00Z")).json()
        assert [lec["title"] for lec in before["lectures"]] == ["A1"]

        mine = (await student.get("/api/lectures/history")).json()
        assert [lec["title"] for lec in mine["lectures"]] == ["A4", "A3", "A2", "A1"]
        assert all("attendance" not in lec for lec in mine["lectures"])
        assert (await student.get("/api/lectures/history", section_id=b)).status_code == 403
        for bad in ({"limit": 101}, {"limit": 0}, {"before": "yesterday"},
                    {"before": "2026-03-02T09:45:00Z,x"}):
            r = await teacher.get("/api/lectures/history", **bad)
            assert r.status_code == 422, (bad, r.text)
