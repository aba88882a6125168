/**
 * teacher-lecture.js — the lecture controls of one section: start now, schedule for later (with
 * a warning before a clash), the scheduled list with "Cancel", and the lectures ended today.
 *
 * `updatePanel` is the one place a section card follows the stream's state (teacher-state.js):
 * the live panel (teacher-live.js) is swapped only when another lecture goes live, the lists are
 * patched by ui.js `syncList`, so a focused button or a half-filled form survives every event.
 */
import { boxNow, post } from "/static/js/api.js";
import { attendanceBlock } from "/static/js/records.js";
import {
  LIMITS, field, textInput, durationInput, errorBox, requireText, readDuration, wireForm,
} from "/static/js/teacher-forms.js";
import { buildLivePanel } from "/static/js/teacher-live.js";
import { page } from "/static/js/teacher-state.js";
import {
  h, busy, formError, fieldError, formatClock, isToday, countdownText, parseTime, syncList, plannedEnd,
} from "/static/js/ui.js";

function liveFor(p) {
  return page.state.live.find((l) => l.class_id === p.classId && l.section_id === p.sectionId) || null;
}

export function buildStartForm(p) {
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

export function buildScheduleForm(p) {
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

export function updatePanel(p, reason) {
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
