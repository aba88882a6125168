/**
 * records.js — what the teacher looks back at: a lecture's attendance (present / late / absent
 * with names, and the CSV), and the History view of ended lectures, a page at a time.
 *
 * Attendance is fetched when its disclosure is opened, not with the page: a teacher with forty
 * ended lectures should not cost the box forty reports on every load.
 */
import { get } from "/static/js/api.js";
import { formatClock, h } from "/static/js/ui.js";

const STATUS_LABEL = { present: "Present", late: "Late", absent: "Absent" };

function csvUrl(sessionId) {
  return `/api/lectures/${encodeURIComponent(sessionId)}/attendance.csv`;
}

function countsText(counts) {
  return ["present", "late", "absent"].map((k) => `${counts[k] ?? 0} ${k}`).join(" · ");
}

/** The names under each status, and the CSV link. */
function renderReport(body, report) {
  const groups = ["present", "late", "absent"].map((status) => {
    const people = report.students.filter((s) => s.status === status);
    return h("div", { class: "attendance-group", dataset: { status } },
      h("p", { class: "attendance-status", text: `${STATUS_LABEL[status]} (${people.length})` }),
      h("ul", { class: "attendance-names" }, people.map((s) => h("li", {
        text: status === "absent" ? s.name : `${s.name} · ${s.minutes_present} min`,
      }))));
  });
  body.replaceChildren(...groups,
    h("a", { class: "btn btn-secondary btn-small", href: csvUrl(report.session_id), download: "",
      text: "Download CSV" }));
}

/** A closed disclosure "Attendance" for one ended lecture; loads its report when opened. */
export function attendanceBlock(lecture, counts) {
  const body = h("div", { class: "attendance-body" }, h("p", { class: "muted", text: "Loading…" }));
  const summary = h("summary", { text: counts ? `Attendance: ${countsText(counts)}` : "Attendance" });
  const details = h("details", { class: "disclosure attendance", dataset: { sessionId: lecture.session_id } },
    summary, body);
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      renderReport(body, await get(`/api/lectures/${encodeURIComponent(lecture.session_id)}/attendance`));
    } catch (err) {
      loaded = false;
      body.replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message }));
    }
  });
  return details;
}

/**
 * The History view: ended lectures of every section, newest first, with their attendance counts.
 * `names` maps section_id to "Class · Section X" for the labels.
 */
export function historyView(names) {
  const list = h("ul", { class: "list-cards history-list" });
  const more = h("button", { type: "button", class: "btn btn-secondary", text: "Show older lectures", hidden: true });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  let cursor = null;

  async function load() {
    error.hidden = true;
    const query = new URLSearchParams({ limit: "20" });
    if (cursor) query.set("before", cursor);
    try {
      const page = await get(`/api/lectures/history?${query}`);
      for (const l of page.lectures) list.append(row(l));
      cursor = page.next_before;
      more.hidden = !cursor;
      if (list.children.length === 0) {
        list.append(h("li", { class: "empty-row muted", text: "No ended lectures yet." }));
      }
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  function row(l) {
    return h("li", { class: "row-card row-ended", dataset: { sessionId: l.session_id } },
      h("div", { class: "row-main" },
        h("p", { class: "row-title", text: l.title || "Untitled lecture" }),
        h("p", { class: "row-meta muted" }, [names.get(l.section_id), l.subject,
          `${formatClock(l.start_time)}–${formatClock(l.end_time)}`,
          l.ended_by === "duration" ? "ended on time" : null].filter(Boolean).join(" · ")),
        l.summary ? h("p", { class: "summary", text: l.summary }) : null,
        attendanceBlock(l, l.attendance)));
  }

  more.addEventListener("click", load);
  load();
  return h("div", { class: "history" }, list, error, more);
}
