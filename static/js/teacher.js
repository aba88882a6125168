/**
 * teacher.js — the teacher's page: sign in, classes and sections with join codes and QR codes,
 * lecture controls per section, and who is online.
 *
 * Lecture state comes from the same event stream the students use (stream.js), so what the teacher
 * sees is exactly what the box broadcast. Everything is built once and patched in place on events
 * (forms by their own `update`, lists by ui.js `syncList`, as on the student's page): a slider
 * being dragged, a note being typed or a focused "Cancel" button is never reset under the
 * teacher's fingers.
 */
import { ApiError, boxNow, del, get, patch, post } from "/static/js/api.js";
import { createStream } from "/static/js/stream.js";
import { buildAnswerPanel } from "/static/js/teacher-answers.js";
import {
  LIMITS, nextId, field, textInput, durationInput, errorBox, requireText, readDuration, optionalText,
  wireForm,
} from "/static/js/teacher-forms.js";
import {
  $, h, showView, setBadge, busy, formError, fieldError, formatClock, isToday, timeLeftText,
  countdownText, parseTime, registerServiceWorker, syncList, confirmDialog, endsAt, plannedEnd,
} from "/static/js/ui.js";
import { attendanceBlock, historyView } from "/static/js/records.js";
import { page } from "/static/js/teacher-state.js";

let user = null;
let stream = null;
let tickTimer = 0;

// ---------------------------------------------------------------- sections

function liveFor(p) {
  return page.state.live.find((l) => l.class_id === p.classId && l.section_id === p.sectionId) || null;
}

function buildStartForm(p) {
  const subject = textInput("subject", LIMITS.subject, { required: true, placeholder: "e.g. Maths" });
  const title = textInput("title", LIMITS.title, { required: true, placeholder: "e.g. Fractions" });
  const duration = durationInput("duration_minutes", { placeholder: "45" });
  const form = h("form", { class: "form form-grid start-form", novalidate: true, dataset: { form: "start" } },
    field("Subject", subject), field("Title", title),
    field("Length (minutes)", duration, "Optional"),
    errorBox(),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-primary", text: "Start lecture" })));
  wireForm(form, {
    busyText: "Starting…",
    validate: () => {
      const s = requireText(subject, "Subject", LIMITS.subject);
      const t = requireText(title, "Title", LIMITS.title);
      const d = readDuration(duration, false);
      if (s === null || t === null || d === null) return null;
      const body = { class_id: p.classId, section_id: p.sectionId, subject: s, title: t };
      if (d !== undefined) body.duration_minutes = d;
      return body;
    },
    send: (body) => post("/api/lecture/start", body),
    after: () => {
      title.value = "";
    },
  });
  return form;
}

function toLocalInputValue(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function buildScheduleForm(p) {
  const subject = textInput("subject", LIMITS.subject, { required: true });
  const title = textInput("title", LIMITS.title, { required: true });
  const when = h("input", { type: "datetime-local", name: "scheduled_time", required: true, step: "60" });
  const duration = durationInput("duration_minutes", { placeholder: "45" });
  const refreshMin = () => {
    when.min = toLocalInputValue(boxNow() + 60000);
  };
  // A sensible default: the next quarter hour at least five minutes ahead.
  const defaultTime = () => {
    const q = 15 * 60000;
    when.value = toLocalInputValue(Math.ceil((boxNow() + 5 * 60000) / q) * q);
  };
  refreshMin();
  defaultTime();
  let overlapOk = "";
  when.addEventListener("focus", refreshMin);
  const form = h("form", { class: "form form-grid", novalidate: true, dataset: { form: "schedule" } },
    field("Subject", subject), field("Title", title), field("Starts at", when),
    field("Length (minutes)", duration, "Optional"),
    errorBox(),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-secondary", text: "Schedule" })));
  wireForm(form, {
    busyText: "Scheduling…",
    validate: () => {
      const s = requireText(subject, "Subject", LIMITS.subject);
      const t = requireText(title, "Title", LIMITS.title);
      const d = readDuration(duration, false);
      const at = parseTime(when.value);
      const whenOk = fieldError(when, !when.value ? "Pick a date and time."
        : at === null ? "That date doesn't look right."
          : at <= boxNow() ? "Pick a time in the future." : null);
      if (s === null || t === null || d === null || !whenOk) return null;
      const clash = overlapWith(p, at, (d ?? 45) * 60000);
      const signature = `${when.value}/${d ?? ""}`;
      if (clash && overlapOk !== signature) {
        overlapOk = signature; // the second press schedules it anyway
        formError(form, `${clash} The box starts a scheduled lecture only if the section is free`
          + " then; otherwise it is missed. Press Schedule again to schedule it anyway.");
        return null;
      }
      overlapOk = "";
      // datetime-local has no offset: the box reads it as its local time (see the contract).
      const body = {
        class_id: p.classId, section_id: p.sectionId, subject: s, title: t,
        scheduled_time: when.value.length === 16 ? `${when.value}:00` : when.value,
      };
      if (d !== undefined) body.duration_minutes = d;
      return body;
    },
    send: (body) => post("/api/lecture/schedule", body),
    after: () => {
      subject.value = "";
      title.value = "";
      duration.value = "";
      defaultTime();
    },
  });
  return form;
}

/** Why a lecture at `start` for `length` ms would clash in this section, or null. */
function overlapWith(p, start, length) {
  const mine = (x) => x.class_id === p.classId && x.section_id === p.sectionId;
  const live = page.state.live.find(mine);
  if (live && (plannedEnd(live) ?? Infinity) > start) {
    return `“${live.title}” is live until ${formatClock(new Date(plannedEnd(live)).toISOString())}.`;
  }
  const other = page.state.scheduled.filter(mine).find((x) => {
    const t = parseTime(x.scheduled_time);
    return t !== null && t < start + length && start < t + (x.duration_minutes || 45) * 60000;
  });
  return other ? `“${other.title}” is scheduled at ${formatClock(other.scheduled_time)}.` : null;
}

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
function buildLivePanel(p, lecture) {
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

function scheduledRow() {
  const title = h("p", { class: "row-title" });
  const meta = h("p", { class: "row-meta muted" });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const countdown = h("span", { class: "countdown", dataset: { tick: "countdown" } });
  const cancel = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Cancel" });
  const el = h("li", { class: "row-card" },
    h("div", { class: "row-main" }, title, meta, err),
    h("div", { class: "row-side" }, countdown, cancel));
  cancel.addEventListener("click", async () => {
    err.hidden = true;
    try {
      await busy(cancel, () => post("/api/lecture/cancel", { schedule_id: el._schedule.schedule_id }),
        "Cancelling…");
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  return {
    el,
    update(s) {
      el._schedule = s;
      el.dataset.scheduleId = s.schedule_id;
      cancel.setAttribute("aria-label", `Cancel ${s.title || "lecture"}`);
      title.textContent = s.title || "Untitled lecture";
      meta.textContent = [s.subject, formatClock(s.scheduled_time),
        s.duration_minutes ? `${s.duration_minutes} min` : null].filter(Boolean).join(" · ");
      countdown.textContent = countdownText(s);
    },
  };
}

function renderScheduledList(p) {
  const items = page.state.scheduled
    .filter((s) => s.class_id === p.classId && s.section_id === p.sectionId)
    .filter((s) => !s.status || s.status === "pending")
    .sort((a, b) => (parseTime(a.scheduled_time) ?? 0) - (parseTime(b.scheduled_time) ?? 0));
  p.scheduledWrap.hidden = items.length === 0;
  syncList(p.scheduledList, items, (s) => s.schedule_id, scheduledRow);
}

/** An ended lecture of today, with its attendance (loaded when opened) and CSV. */
function endedRow(lecture) {
  const title = h("p", { class: "row-title" });
  const meta = h("p", { class: "row-meta muted" });
  const summary = h("p", { class: "summary", hidden: true });
  const el = h("li", { class: "row-card row-ended" },
    h("div", { class: "row-main" }, title, meta, summary, attendanceBlock(lecture)));
  return {
    el,
    update(l) {
      title.textContent = l.title || "Untitled lecture";
      meta.textContent = [l.subject, `${formatClock(l.start_time)}–${formatClock(l.end_time)}`]
        .filter(Boolean).join(" · ");
      summary.textContent = l.summary || "";
      summary.hidden = !l.summary;
    },
  };
}

function renderEndedList(p) {
  const items = page.state.ended
    .filter((l) => l.class_id === p.classId && l.section_id === p.sectionId)
    .filter((l) => !l.end_time || isToday(l.end_time))
    .sort((a, b) => (parseTime(b.end_time) ?? 0) - (parseTime(a.end_time) ?? 0));
  p.endedWrap.hidden = items.length === 0;
  syncList(p.endedList, items, (l) => l.session_id, endedRow);
}

function renderRoster(p, roster) {
  const count = Number(roster.count ?? (roster.students || []).length) || 0;
  p.online = count;
  p.rosterStudents = roster.students || []; // for "who has not answered"
  p.count.textContent = count === 1 ? "1 student online" : `${count} students online`;
  p.countWrap.dataset.online = count > 0 ? "true" : "false";
  p.rosterSummary.textContent = `Students (${count} online)`;
  if (p.rosterWrap.open) loadStudents(p);
}

/** One student of the section: online dot, name, last seen, and Remove (after a confirmation). */
function studentRow(p) {
  const name = h("span", { class: "roster-name" });
  const seen = h("span", { class: "muted roster-seen" });
  const remove = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Remove" });
  const el = h("li", { class: "roster-item" }, h("span", { class: "dot", "aria-hidden": "true" }),
    name, seen, remove);
  remove.addEventListener("click", () => removeStudent(p, el._student, remove));
  return {
    el,
    update(st) {
      el._student = st;
      el.dataset.studentId = st.student_id;
      el.dataset.online = String(st.online);
      name.textContent = st.name;
      remove.setAttribute("aria-label", `Remove ${st.name}`);
      seen.textContent = st.online ? "online"
        : st.last_seen ? `last seen ${formatClock(st.last_seen)}` : "never connected";
    },
  };
}

/** Every student of the section, online first (fetched when the list is open). */
async function loadStudents(p) {
  let data;
  try {
    data = await get(`/api/sections/${encodeURIComponent(p.sectionId)}/students`);
  } catch (err) {
    p.rosterList.replaceChildren(h("li", { class: "form-error", role: "alert", text: err.message }));
    return;
  }
  const students = data.students.slice()
    .sort((a, b) => (b.online - a.online) || String(a.name).localeCompare(String(b.name)));
  syncList(p.rosterList, students.length ? students : [null], (st) => (st ? st.student_id : "nobody"),
    (st) => (st ? studentRow(p)
      : { el: h("li", { class: "muted", text: "Nobody has joined yet." }), update() {} }));
}

async function removeStudent(p, st, button) {
  const ok = await confirmDialog({
    title: `Remove ${st.name}?`,
    message: `${st.name} is signed out on their device at once and leaves the list. Their past`
      + " attendance stays in the records. They can join again with the join code, as a new student.",
    confirm: "Remove student",
  });
  if (!ok) return;
  try {
    await busy(button, () => del(`/api/students/${encodeURIComponent(st.student_id)}`), "Removing…");
  } catch (err) {
    p.notice(err.message);
  }
  await loadStudents(p);
}

async function loadRoster(p) {
  try {
    renderRoster(p, await get(`/api/sections/${encodeURIComponent(p.sectionId)}/roster`));
  } catch {
    /* keep the last count; student_count events will correct it */
  }
}

function updatePanel(p, reason) {
  const live = liveFor(p);
  if (live) {
    if (!p.live || p.live.sessionId !== live.session_id) {
      p.live = buildLivePanel(p, live);
      p.liveSlot.replaceChildren(p.live.el);
    } else {
      p.live.update(live);
    }
  } else if (p.live) {
    p.live = null;
    p.liveSlot.replaceChildren();
  }
  p.liveSlot.hidden = !live;
  // A start refused because a lecture went live meanwhile (409 from another tab) must not greet
  // the teacher again when that lecture has ended and the form comes back.
  if (live) for (const f of p.startWrap.querySelectorAll("form")) formError(f, null);
  p.startWrap.hidden = Boolean(live);
  p.card.dataset.live = live ? "true" : "false";
  renderScheduledList(p);
  renderEndedList(p);
  p.answers.update((page.state.participation || []).find((x) => x.section_id === p.sectionId), reason);
}

function buildSectionPanel(cls, section) {
  const p = {
    classId: cls.class_id,
    sectionId: section.section_id,
    live: null,
  };
  const qrButton = h("button", { type: "button", class: "btn btn-secondary btn-small", text: "Show QR code" });
  qrButton.addEventListener("click", () => openQr(cls, section));
  const copyButton = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Copy link" });
  copyButton.addEventListener("click", () => copyText(section.join_url, copyButton));

  p.count = h("span", { class: "online-count", text: "0 students online" });
  p.countWrap = h("div", { class: "online", dataset: { online: "false" } }, h("span", { class: "dot", "aria-hidden": "true" }), p.count);
  p.rosterSummary = h("summary", { text: "Students (0 online)" });
  p.rosterList = h("ul", { class: "roster" });
  p.rosterWrap = h("details", { class: "disclosure roster-wrap" }, p.rosterSummary, p.rosterList);
  p.rosterWrap.addEventListener("toggle", () => {
    if (p.rosterWrap.open) loadStudents(p);
  });
  p.notices = h("div", { class: "section-notices", role: "status" });
  p.notice = (text) => p.notices.prepend(h("p", { class: "callout section-notice", text }));
  p.liveSlot = h("div", { class: "live-slot", hidden: true });
  p.answers = buildAnswerPanel(p);
  p.startWrap = h("div", { class: "start-wrap" },
    h("h4", { class: "sub-title", text: "Start a lecture now" }), buildStartForm(p));
  p.scheduledList = h("ul", { class: "list-cards" });
  p.scheduledWrap = h("div", { class: "sub-block", hidden: true },
    h("h4", { class: "sub-title", text: "Scheduled" }), p.scheduledList);
  p.endedList = h("ul", { class: "list-cards" });
  p.endedWrap = h("div", { class: "sub-block", hidden: true },
    h("h4", { class: "sub-title", text: "Ended today" }), p.endedList);

  const joinUrl = section.join_url || `${window.location.origin}/join/${section.join_code}`;
  p.card = h("article", {
    class: "card section-card", dataset: { classId: cls.class_id, sectionId: section.section_id },
    "aria-label": `${cls.name}, section ${section.name}`,
  },
  h("header", { class: "section-head" },
    // The class name is the heading right above the grid: not repeated on each card.
    renameable("h3", { class: "section-title" }, `Section ${section.name}`, section.name,
      `Rename section ${section.name}`,
      (name) => patch(`/api/sections/${encodeURIComponent(section.section_id)}`, { name })),
    p.countWrap),
  p.notices,
  h("div", { class: "join-row" },
    h("div", { class: "join-item" },
      h("span", { class: "label", text: "Join code" }),
      h("span", { class: "join-code", text: section.join_code })),
    h("div", { class: "join-item join-link" },
      h("span", { class: "label", text: "Join link" }),
      h("a", { href: joinUrl, class: "join-url", text: joinUrl, target: "_blank", rel: "noopener" })),
    h("div", { class: "join-actions" }, qrButton, copyButton, newCodeButton(section))),
  h("div", { class: "section-body" },
    p.liveSlot,
    p.answers.el,
    p.startWrap,
    p.scheduledWrap,
    h("details", { class: "disclosure" },
      h("summary", { text: "Schedule a lecture for later" }), buildScheduleForm(p)),
    p.rosterWrap,
    p.endedWrap));
  page.panels.set(section.section_id, p);
  updatePanel(p);
  loadRoster(p);
  return p.card;
}

function renderClass(cls) {
  const sections = cls.sections || [];
  const id = encodeURIComponent(cls.class_id);
  const archive = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Archive" });
  archive.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Archive ${cls.name}?`,
      message: "It leaves this page and its join codes admit nobody new. Nothing is deleted:"
        + " “Archived classes” brings it back.",
      confirm: "Archive class", danger: false,
    });
    if (ok) await busy(archive, () => post(`/api/classes/${id}/archive`), "Archiving…").then(loadClasses);
  });
  return h("section", { class: "class-block", dataset: { classId: cls.class_id } },
    h("div", { class: "class-head" },
      renameable("h2", { class: "class-title" }, cls.name, cls.name, `Rename class ${cls.name}`,
        (name) => patch(`/api/classes/${id}`, { name })),
      addSectionForm(cls), archive),
    h("div", { class: "section-grid" }, sections.map((s) => buildSectionPanel(cls, s))));
}

/**
 * A heading with a "Rename" button that turns it into a one-field form in place (Enter saves,
 * Escape cancels). `save(name)` does the request; the page then reloads the classes.
 */
function renameable(tag, attrs, text, current, label, save) {
  const heading = h(tag, attrs, text);
  const button = h("button", { type: "button", class: "btn btn-ghost btn-small rename", text: "Rename",
    "aria-label": label });
  const input = textInput("name", LIMITS.name, { required: true, "aria-label": `New name for ${current}` });
  const form = h("form", { class: "form form-inline rename-form", novalidate: true, hidden: true },
    input, h("button", { type: "submit", class: "btn btn-primary btn-small", text: "Save" }),
    h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Cancel", dataset: { cancel: "" } }),
    errorBox());
  const editing = (on) => {
    form.hidden = !on;
    heading.hidden = on;
    button.hidden = on;
    if (on) {
      input.value = current;
      input.select();
    } else button.focus();
  };
  button.addEventListener("click", () => editing(true));
  form.querySelector("[data-cancel]").addEventListener("click", () => editing(false));
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") editing(false);
  });
  wireForm(form, {
    busyText: "Saving…",
    validate: () => {
      const v = requireText(input, "Name", LIMITS.name);
      return v === null ? null : { name: v };
    },
    send: (body) => save(body.name),
    after: loadClasses,
  });
  return h("div", { class: "renameable" }, heading, button, form);
}

function addSectionForm(cls) {
  const toggle = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Add section",
    "aria-expanded": "false" });
  const input = textInput("name", LIMITS.name, { required: true, "aria-label": `New section of ${cls.name}`,
    placeholder: "e.g. C" });
  const form = h("form", { class: "form form-inline", novalidate: true, hidden: true },
    input, h("button", { type: "submit", class: "btn btn-primary btn-small", text: "Add" }), errorBox());
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) input.focus();
  });
  wireForm(form, {
    busyText: "Adding…",
    validate: () => {
      const v = requireText(input, "Section name", LIMITS.name);
      return v === null ? null : { name: v };
    },
    send: (body) => post(`/api/classes/${encodeURIComponent(cls.class_id)}/sections`, body),
    after: loadClasses,
  });
  return h("div", { class: "add-section" }, toggle, form);
}

function newCodeButton(section) {
  const button = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "New join code" });
  button.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `New join code for Section ${section.name}?`,
      message: `The code ${section.join_code} and its QR code stop working at once. Students who`
        + " already joined stay in.",
      confirm: "Make a new code",
    });
    if (ok) await busy(button, () => post(`/api/sections/${encodeURIComponent(section.section_id)}/join-code`), "…").then(loadClasses);
  });
  return button;
}

function renderClasses(classes) {
  const box = $("#classes");
  box.replaceChildren();
  page.panels.clear();
  if (classes.length === 0) {
    box.append(h("div", { class: "card card-pad empty" },
      h("p", { class: "empty-title", text: "No classes yet" }),
      h("p", { class: "muted", text: "Create a class with its sections. Each section gets a join code and a QR code for the students." })));
    return;
  }
  for (const c of classes) box.append(renderClass(c));
}

// ---------------------------------------------------------------- QR / projector view

function openQr(cls, section) {
  const dlg = $("#qr-dialog");
  $("#qr-class").textContent = `${cls.name} · Section ${section.name}`;
  $("#qr-img").src = `/api/sections/${encodeURIComponent(section.section_id)}/qr.svg`;
  $("#qr-url").textContent = section.join_url || `${window.location.origin}/join/${section.join_code}`;
  $("#qr-code").textContent = section.join_code;
  if (typeof dlg.showModal === "function") dlg.showModal();
  else dlg.setAttribute("open", "");
  $("#qr-close").focus();
}

function wireQrDialog() {
  const dlg = $("#qr-dialog");
  const close = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    if (typeof dlg.close === "function") dlg.close();
    else dlg.removeAttribute("open");
  };
  $("#qr-close").addEventListener("click", close);
  $("#qr-print").addEventListener("click", () => window.print());
  $("#qr-full").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (dlg.requestFullscreen) dlg.requestFullscreen().catch(() => {});
  });
  dlg.addEventListener("click", (ev) => {
    if (ev.target === dlg) close(); // click on the backdrop
  });
}

async function copyText(text, button) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    // Plain http on the LAN has no clipboard API: fall back to a selected, hidden textarea.
    const ta = h("textarea", { class: "visually-hidden", readonly: true }, text);
    document.body.append(ta);
    ta.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
  }
  const label = button.textContent;
  button.textContent = ok ? "Copied" : "Copy failed";
  window.setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

// ---------------------------------------------------------------- new class

function wireClassForm() {
  const wrap = $("#new-class");
  const toggle = $("#new-class-toggle");
  const show = (on) => {
    wrap.hidden = !on;
    toggle.setAttribute("aria-expanded", on ? "true" : "false");
    if (on) $("#class-name").focus();
    else toggle.focus();
  };
  toggle.addEventListener("click", () => show(wrap.hidden));
  $("#class-cancel").addEventListener("click", () => show(false));
  const form = $("#class-form");
  const name = $("#class-name");
  const sections = $("#class-sections");
  wireForm(form, {
    busyText: "Creating…",
    validate: () => {
      const n = requireText(name, "Class name", LIMITS.name);
      const list = sections.value.split(",").map((s) => s.trim()).filter(Boolean);
      const lower = list.map((s) => s.toLowerCase());
      const dup = lower.find((s, i) => lower.indexOf(s) !== i);
      const msg = list.length === 0 ? "Add at least one section."
        : list.some((s) => s.length > LIMITS.name) ? `Section names: ${LIMITS.name} characters at most.`
          : dup ? `Section “${dup}” appears twice.` : null;
      const ok = fieldError(sections, msg);
      if (n === null || !ok) return null;
      return { name: n, sections: list };
    },
    send: (body) => post("/api/classes", body),
    after: async () => {
      name.value = "";
      sections.value = "A";
      wrap.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      await loadClasses();
    },
  });
}

async function loadClasses() {
  const data = await get("/api/classes");
  page.classes = (data && data.classes) || [];
  renderClasses(page.classes);
}

/** Archived classes, each with "Unarchive" (shown on request, under the active ones). */
async function showArchived() {
  const data = await get("/api/classes?archived=1");
  const list = $("#archived-list");
  list.replaceChildren();
  const archived = data.classes.filter((c) => c.archived);
  if (archived.length === 0) list.append(h("li", { class: "muted", text: "No archived classes." }));
  for (const c of archived) {
    const back = h("button", { type: "button", class: "btn btn-secondary btn-small", text: "Unarchive",
      "aria-label": `Unarchive ${c.name}` });
    back.addEventListener("click", async () => {
      await busy(back, () => post(`/api/classes/${encodeURIComponent(c.class_id)}/unarchive`), "…");
      await loadClasses();
      await showArchived();
    });
    list.append(h("li", { class: "row-card" }, h("p", { class: "row-title", text: c.name }), back));
  }
}

/** "Today" (the classes, live) or "History" (ended lectures with attendance). */
function showTab(name) {
  for (const b of document.querySelectorAll("[data-tab]")) {
    b.setAttribute("aria-pressed", String(b.dataset.tab === name));
  }
  $("#today").hidden = name !== "today";
  $("#history").hidden = name !== "history";
  if (name === "history") {
    const names = new Map();
    for (const c of page.classes) for (const sec of c.sections) names.set(sec.section_id, `${c.name} · Section ${sec.name}`);
    $("#history").replaceChildren(historyView(names));
  }
}

// ---------------------------------------------------------------- stream, clock

function onState(next, info) {
  page.state = next;
  for (const p of page.panels.values()) updatePanel(p, info.reason);
  const stale = $("#stale");
  if (info.stale && info.fromCache && info.savedAt) {
    stale.textContent = `Showing saved information from ${formatClock(info.savedAt)}. It updates when the box is reachable again.`;
    stale.hidden = false;
  } else {
    stale.hidden = true;
  }
  document.body.dataset.stale = info.stale ? "true" : "false";
  if (info.reason === "state_sync") {
    // A (re)connect: presence may have changed while we were away.
    for (const p of page.panels.values()) loadRoster(p);
  }
}

function tick() {
  for (const p of page.panels.values()) {
    if (p.live) p.live.tick();
    for (const el of p.scheduledList.querySelectorAll("[data-tick=countdown]")) {
      const li = el.closest(".row-card");
      if (li && li._schedule) el.textContent = countdownText(li._schedule);
    }
  }
}

function startStream() {
  const badge = $("#conn");
  badge.hidden = false;
  stream = createStream({ storageKey: `teacher:${user.id}`, hello: "teacher_connect" });
  stream.on("answer_tally", (payload) => {
    const p = payload && page.panels.get(payload.section_id);
    if (p) p.answers.onTally(payload);
  });
  stream.on("pulse_update", (payload) => {
    const p = payload && page.panels.get(payload.section_id);
    if (p) p.answers.onPulse(payload);
  });
  stream.on("student_count", (payload) => {
    const p = payload && page.panels.get(payload.section_id);
    if (p) renderRoster(p, payload);
  });
  stream.onEvent((name, payload, info) => {
    const p = page.panels.get(payload.section_id);
    if (!p || info.replay) return;
    const sched = payload.schedule;
    if (name === "lecture_cancelled" && sched && sched.status === "missed") {
      const busyThen = page.state.live.some((l) => l.section_id === p.sectionId);
      p.notice(`“${sched.title}” (${formatClock(sched.scheduled_time)}) was missed: `
        + (busyThen ? "another lecture was live in this section at that time."
          : "the box was off or busy when it was due, and its time has passed."));
    } else if (name === "lecture_ended" && payload.ended_by === "duration") {
      p.notice(`“${payload.lecture?.title || "The lecture"}” ended by itself: its time was up.`);
    } else if (name === "section_updated") {
      loadClasses();
    }
  });
  stream.onStatus((status) => {
    setBadge(badge, status);
    if (status === "denied") showLogin("You have been signed out. Please sign in again.");
  });
  stream.onState(onState);
  stream.start();
}

// ---------------------------------------------------------------- sign in / out

async function showDashboard(u) {
  user = u;
  $("#who").textContent = u.username;
  $("#who").hidden = false;
  $("#logout").hidden = false;
  $("#dash-date").textContent = new Date(boxNow()).toLocaleDateString(undefined, {
    weekday: "long", day: "numeric", month: "long",
  });
  showView("dashboard");
  try {
    await loadClasses();
  } catch (err) {
    $("#classes").replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message }));
  }
  startStream();
  if (!tickTimer) tickTimer = window.setInterval(tick, 1000);
}

function showLogin(message) {
  if (stream) {
    stream.close(false);
    stream = null;
  }
  $("#conn").hidden = true;
  $("#who").hidden = true;
  $("#logout").hidden = true;
  const form = $("#login-form");
  formError(form, message || null);
  showView("login");
}

function wireTabs() {
  for (const b of document.querySelectorAll("[data-tab]")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }
  const archived = $("#archived");
  archived.addEventListener("toggle", () => {
    if (archived.open) showArchived();
  });
}

function wireLogin() {
  const form = $("#login-form");
  const username = $("#login-username");
  const password = $("#login-password");
  wireForm(form, {
    busyText: "Signing in…",
    validate: () => {
      const u = username.value.trim();
      const ok1 = fieldError(username, u ? null : "Enter your username.");
      const ok2 = fieldError(password, password.value ? null : "Enter your password.");
      return ok1 && ok2 ? { username: u, password: password.value } : null;
    },
    send: (body) => post("/api/auth/login", body),
    after: (res) => {
      password.value = "";
      // Reload so every handler starts clean for this user.
      if (user && res.user && res.user.id !== user.id) window.location.reload();
      else showDashboard(res.user);
    },
  });
  $("#logout").addEventListener("click", async (ev) => {
    try {
      await busy(ev.currentTarget, () => post("/api/auth/logout"), "Signing out…");
    } catch {
      /* signed out locally anyway */
    }
    if (stream) stream.close(true);
    stream = null;
    window.location.assign("/teacher");
  });
}

async function main() {
  registerServiceWorker();
  wireLogin();
  wireClassForm();
  wireQrDialog();
  wireTabs();
  try {
    const me = await get("/api/session");
    if (me && me.role === "teacher") {
      await showDashboard(me.user);
      return;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) {
      showLogin(err.message);
      return;
    }
  }
  try {
    const setup = await get("/api/setup");
    if (setup && setup.needed) {
      showView("needs-setup");
      return;
    }
  } catch {
    /* fall through to the login form */
  }
  showLogin();
}

main();
