/**
 * teacher-live.js — one live lecture on the teacher's page: its facts (started, length, ends, time
 * left) and the three forms that drive it: progress with a note, the planned length, and "End".
 *
 * Built once per live lecture and patched in place by `update` on every event; a form the teacher
 * is editing is never overwritten (see `dirty` below), so an event from another tab or from the
 * box does not undo what is being typed or dragged.
 */
import { post } from "/static/js/api.js";
import {
  LIMITS, nextId, field, durationInput, errorBox, readDuration, optionalText, wireForm,
} from "/static/js/teacher-forms.js";
import { h, formatClock, timeLeftText, confirmDialog, endsAt } from "/static/js/ui.js";

/**
 * The progress slider and note. `dirty` while the teacher is changing them: an event then does
 * not overwrite what is being typed or dragged, until the teacher saves. After a save it says to
 * how many students online it went (`p.online`, from the roster).
 */
function buildProgressForm(p, sid) {
  const sent = h("p", { class: "sent-note", role: "status" });
  const sliderId = nextId("progress");
  const slider = h("input", {
    type: "range", id: sliderId, name: "progress", min: "0", max: "100", step: "5",
    class: "slider",
  });
  const out = h("output", { for: sliderId, class: "progress-value" });
  const note = h("textarea", { name: "note", rows: "2", maxlength: String(LIMITS.text),
    placeholder: "e.g. Open your book at page 42" });
  const form = h("form", { class: "form", novalidate: true, dataset: { form: "progress" } },
    h("div", { class: "field" },
      h("div", { class: "progress-row" }, h("label", { for: sliderId, text: "Progress" }), out),
      slider),
    field("Note for students", note, "Optional. Students see it under the progress bar."),
    errorBox(),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-primary", text: "Update progress" }), sent));
  let dirty = false;
  slider.addEventListener("input", () => {
    out.textContent = `${slider.value}%`;
    dirty = true;
  });
  note.addEventListener("input", () => {
    dirty = true;
  });
  wireForm(form, {
    busyText: "Saving…",
    validate: () => {
      const n = optionalText(note, "Note", LIMITS.text);
      if (n === null) return null;
      return { session_id: sid, progress: Number(slider.value), note: n };
    },
    send: (body) => post("/api/lecture/progress", body),
    after: () => {
      dirty = false;
      const n = p.online || 0;
      sent.textContent = `Sent to ${n} ${n === 1 ? "student" : "students"} online`;
    },
  });
  return {
    form,
    update(l) {
      if (dirty) return;
      const v = Math.max(0, Math.min(100, Number(l.progress) || 0));
      slider.value = String(v);
      out.textContent = `${v}%`;
      if (document.activeElement !== note) note.value = l.note || "";
    },
  };
}

/** The planned length; like the progress form, never overwritten while being edited. */
function buildDurationForm(sid) {
  const dur = durationInput("duration_minutes", { required: true });
  const form = h("form", { class: "form form-inline", novalidate: true, dataset: { form: "duration" } },
    field("Length (minutes)", dur),
    h("button", { type: "submit", class: "btn btn-secondary", text: "Change length" }),
    errorBox());
  let dirty = false;
  dur.addEventListener("input", () => {
    dirty = true;
  });
  wireForm(form, {
    busyText: "Saving…",
    validate: () => {
      const d = readDuration(dur, true);
      return d === null ? null : { session_id: sid, duration_minutes: d };
    },
    send: (body) => post("/api/lecture/duration", body),
    after: () => {
      dirty = false;
    },
  });
  return {
    form,
    update(l) {
      if (!dirty && document.activeElement !== dur) {
        dur.value = l.duration_minutes ? String(l.duration_minutes) : "";
      }
    },
  };
}

/** End the lecture, with an optional summary, after a confirmation (no undo: it is one click
 * right under the summary box). */
function buildEndForm(sid) {
  let current = null;
  const summary = h("textarea", { name: "summary", rows: "2", maxlength: String(LIMITS.text),
    placeholder: "What we covered, homework…" });
  const form = h("form", { class: "form", novalidate: true, dataset: { form: "end" } },
    field("Summary", summary, "Optional. Students see it under “Earlier today”."),
    errorBox(),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-danger", text: "End lecture" })));
  wireForm(form, {
    busyText: "Ending…",
    validate: () => {
      const s = optionalText(summary, "Summary", LIMITS.text);
      if (s === null) return null;
      return s ? { session_id: sid, summary: s } : { session_id: sid };
    },
    send: async (body) => {
      const ok = await confirmDialog({
        title: `End “${current?.title || "this lecture"}” now?`,
        message: "Students see it as ended at once; it cannot be restarted.",
        confirm: "End lecture", keep: "Keep going",
      });
      return ok ? post("/api/lecture/end", body) : null;
    },
  });
  return {
    form,
    update(l) {
      current = l;
    },
  };
}

/** One live lecture: its facts and its three forms; rebuilt only when another lecture goes live. */
export function buildLivePanel(p, lecture) {
  const sid = lecture.session_id;
  const title = h("h4", { class: "lecture-title" });
  const subject = h("span", { class: "subject" });
  const started = h("dd");
  const length = h("dd");
  const left = h("dd", { class: "time-left" });
  const endsAtCell = h("dd", { class: "ends-at" });
  const forms = [buildProgressForm(p, sid), buildDurationForm(sid), buildEndForm(sid)];
  const [progress, duration, end] = forms;
  const el = h("div", { class: "live-panel", dataset: { sessionId: sid } },
    h("div", { class: "live-head" }, h("span", { class: "pill pill-live", text: "Live" }), subject),
    title,
    h("dl", { class: "facts" },
      h("div", {}, h("dt", { text: "Started" }), started),
      h("div", {}, h("dt", { text: "Length" }), length),
      h("div", {}, h("dt", { text: "Ends" }), endsAtCell),
      h("div", {}, h("dt", { text: "Time left" }), left)),
    h("div", { class: "live-controls" },
      h("div", { class: "control-block" }, progress.form),
      h("div", { class: "control-block" }, duration.form, h("hr", { class: "divider" }), end.form)));
  const rec = {
    sessionId: sid, el, lecture,
    update(l) {
      rec.lecture = l;
      title.textContent = l.title || "Untitled lecture";
      subject.textContent = l.subject || "";
      started.textContent = formatClock(l.start_time);
      length.textContent = l.duration_minutes ? `${l.duration_minutes} min` : "Open";
      left.textContent = timeLeftText(l);
      endsAtCell.textContent = endsAt(l);
      for (const f of forms) f.update(l);
    },
    tick() {
      left.textContent = timeLeftText(rec.lecture);
    },
  };
  rec.update(lecture);
  return rec;
}
