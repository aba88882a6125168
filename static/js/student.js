/**
 * student.js — the student's page: join with a name, then a live dashboard of the section.
 *
 * Served at /join/<code> (what the QR code opens) and /student. Phone first: one column, large
 * touch targets, and it keeps showing the last known state when the Wi-Fi drops or the page is
 * reloaded while the box is unreachable (marked stale until the box confirms it again). Lists are
 * patched in place on each event (ui.js `syncList`), as on the teacher's page.
 */
import { ApiError, get, post } from "/static/js/api.js";
import { createStream, clearStream } from "/static/js/stream.js";
import { mountStudentAnswers } from "/static/js/student-answers.js";
import {
  $, h, showView, setBadge, busy, formError, fieldError, formatClock, isToday, timeLeftText,
  countdownText, parseTime, registerServiceWorker, syncList, endsAt,
} from "/static/js/ui.js";

const ME_KEY = "classroom-box:me:student";
const MAX_NOTICES = 4;

/** @type {{student:{id:number,name:string}, class_id:number, section_id:number, class_name?:string, section_name?:string, box_name?:string}|null} */
let me = null;
let stream = null;
let answers = null;
let removed = false; // the teacher removed this student: the page says so, not "session ended"
const shownNotices = new Set();

function loadCachedMe() {
  try {
    const raw = localStorage.getItem(ME_KEY);
    const v = raw ? JSON.parse(raw) : null;
    return v && v.student && v.student.id !== undefined ? v : null;
  } catch {
    return null;
  }
}

function saveCachedMe(value) {
  try {
    if (value) localStorage.setItem(ME_KEY, JSON.stringify(value));
    else localStorage.removeItem(ME_KEY);
  } catch {
    /* storage unavailable */
  }
}

function joinCodeFromPath() {
  const m = window.location.pathname.match(/^\/join\/([^/?#]+)/);
  return m ? decodeURIComponent(m[1]).trim() : null;
}

/** Who am I? {kind: "student"|"teacher"|"anonymous"|"unreachable", me?} */
async function whoAmI() {
  try {
    const data = await get("/api/session");
    if (data && data.role === "student") return { kind: "student", me: data };
    if (data && data.role === "teacher") return { kind: "teacher", me: data };
    return { kind: "anonymous" };
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) return { kind: "unreachable" };
    if (err instanceof ApiError && err.status >= 500) return { kind: "unreachable" };
    return { kind: "anonymous" };
  }
}

// ---------------------------------------------------------------- join flow

async function showJoin(code, who) {
  let place;
  try {
    place = await get(`/api/join/${encodeURIComponent(code)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      showCode(`No class has the join code “${code}” on this box. Check the code on the board and`
        + " type it again.", code);
      return;
    }
    if (who.kind === "unreachable" && loadCachedMe()) {
      startDashboard(loadCachedMe());
      return;
    }
    showCode(err.message);
    return;
  }

  if (who.kind === "student" && place
      && who.me.class_name === place.class_name && who.me.section_name === place.section_name) {
    // Already joined here (a re-scan of the QR code): go straight to the dashboard.
    startDashboard(who.me);
    return;
  }

  $("#join-box").textContent = place.box_name || "";
  $("#join-place").textContent = `${place.class_name} · Section ${place.section_name}`;
  $("#join-place").hidden = false;
  $("#join-title").textContent = "Join your class";
  const sw = $("#join-switch");
  if (who.kind === "student") {
    sw.textContent = `You are in ${who.me.class_name || "another class"}`
      + `${who.me.section_name ? ` · Section ${who.me.section_name}` : ""}`
      + " on this device. Joining here moves you to this class.";
    sw.hidden = false;
    $("#join-name").value = who.me.student?.name || "";
  } else if (who.kind === "teacher") {
    sw.textContent = "You are signed in as a teacher in this browser. Joining as a student signs"
      + " the teacher out here; use another browser or a private window to preview.";
    sw.hidden = false;
  }
  document.title = `Join ${place.class_name} · classroom-box`;
  showView("join");
  $("#join-name").focus();

  const form = $("#join-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const input = $("#join-name");
    const name = input.value.trim().replace(/\s+/g, " ");
    if (!fieldError(input, !name ? "Please type your name." : name.length > 80
      ? "That name is too long (80 characters at most)." : null)) {
      input.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    try {
      await busy(button, async () => {
        const res = await post("/api/join", { join_code: code, name });
        const identity = {
          role: "student",
          student: res.student,
          class_id: res.class_id,
          section_id: res.section_id,
          class_name: place.class_name,
          section_name: place.section_name,
          box_name: place.box_name,
        };
        const previous = loadCachedMe();
        if (previous && previous.student.id !== identity.student.id) {
          clearStream(`student:${previous.student.id}`);
        }
        saveCachedMe(identity);
        // A reload should land on the dashboard, not on the join form again.
        window.history.replaceState(null, "", "/student");
        startDashboard(identity);
      }, "Joining…");
    } catch (err) {
      formError(form, err.message);
    }
  });
}

/** The "type your join code" form; `code` (an unknown one) is put back in the field to correct. */
function showCode(reason, code) {
  if (reason) $("#code-reason").textContent = reason;
  showView("code");
  if (code) {
    const input = $("#code-input");
    input.value = code;
    input.select();
  }
  const form = $("#code-form");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("#code-input");
    const code = input.value.trim();
    if (!fieldError(input, code ? null : "Please type the join code.")) {
      input.focus();
      return;
    }
    window.location.assign(`/join/${encodeURIComponent(code)}`);
  });
}

// ---------------------------------------------------------------- dashboard

const NOTICE_TEXT = {
  lecture_started: (p) => `Lecture started: ${titleOf(p)}`,
  lecture_ended: (p) => (p.ended_by === "duration"
    ? `Lecture ended (time is up): ${titleOf(p)}` : `Lecture ended: ${titleOf(p)}`),
  section_updated: (p) => `Your class is now ${p.class_name} · Section ${p.section_name}`,
  lecture_scheduled: (p) => {
    const s = p.schedule || p;
    return `Lecture scheduled: ${titleOf(p)} at ${formatClock(s.scheduled_time)}`;
  },
  lecture_cancelled: (p) => (p.schedule?.status === "missed"
    ? `Lecture did not start: ${titleOf(p)}` : `Lecture cancelled: ${titleOf(p)}`),
  lecture_duration_update: (p) => {
    const mins = p.duration_minutes ?? p.lecture?.duration_minutes;
    return `New length for ${titleOf(p)}: ${mins} min`;
  },
};

function titleOf(p) {
  return p.title || p.lecture?.title || p.schedule?.title || "a lecture";
}

function mine(item) {
  if (!me) return false;
  // Students only get their own section, but filter anyway: cheap, and it keeps a stale cache honest.
  return (item.class_id === undefined || item.class_id === me.class_id)
    && (item.section_id === undefined || item.section_id === me.section_id);
}

function addNotice(name, payload) {
  const make = NOTICE_TEXT[name];
  if (!make || !mine(payload)) return;
  const key = String(payload.seq);
  if (shownNotices.has(key)) return; // belt and braces: the stream already drops seq duplicates
  shownNotices.add(key);
  const list = $("#notices");
  const when = new Date();
  const item = h("li", { class: `notice notice-${name}`, dataset: { seq: key, event: name } },
    h("span", { class: "notice-text", text: make(payload) }),
    h("time", {
      class: "notice-time",
      datetime: when.toISOString(),
      text: when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    }));
  list.prepend(item);
  while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
}

/** An "empty list" message as a list row: syncList shows it when there is nothing else. */
function placeholder(el) {
  return { el, update() {} };
}

function liveCard() {
  const subject = h("span", { class: "subject" });
  const title = h("h3", { class: "lecture-title" });
  const started = h("dd");
  const length = h("dd");
  const left = h("dd", { class: "time-left", dataset: { tick: "left" } });
  const ends = h("dd", { class: "ends-at" });
  const label = h("label", { text: "Progress" });
  const value = h("span", { class: "progress-value" });
  const bar = h("progress", { class: "bar", max: 100 });
  const noteText = h("p", { class: "note-text" });
  const note = h("div", { class: "note", hidden: true },
    h("p", { class: "note-label", text: "Teacher's note" }), noteText);
  const el = h("article", { class: "card card-pad live-card" },
    h("div", { class: "live-head" }, h("span", { class: "pill pill-live", text: "Live" }), subject),
    title,
    h("dl", { class: "facts" },
      h("div", {}, h("dt", { text: "Started" }), started),
      h("div", {}, h("dt", { text: "Length" }), length),
      h("div", {}, h("dt", { text: "Ends" }), ends),
      h("div", {}, h("dt", { text: "Time left" }), left)),
    h("div", { class: "progress-row" }, label, value),
    bar,
    note);
  return {
    el,
    update(l) {
      const progress = Math.max(0, Math.min(100, Number(l.progress) || 0));
      el._lecture = l;
      el.dataset.sessionId = l.session_id;
      subject.textContent = l.subject || "";
      title.textContent = l.title || "Untitled lecture";
      started.textContent = formatClock(l.start_time);
      length.textContent = l.duration_minutes ? `${l.duration_minutes} min` : "Open";
      left.textContent = timeLeftText(l);
      ends.textContent = endsAt(l);
      bar.id = `progress-${l.session_id}`;
      label.htmlFor = bar.id;
      value.textContent = `${progress}%`;
      bar.value = progress;
      bar.textContent = `${progress}%`;
      noteText.textContent = l.note || "";
      note.hidden = !l.note;
    },
  };
}

function renderLive(live) {
  syncList($("#live"), live.length ? live : [null], (l) => (l ? l.session_id : "empty"),
    (l) => (l ? liveCard() : placeholder(h("div", { class: "empty" },
      h("p", { class: "empty-title", text: "No lecture right now" }),
      h("p", { class: "muted", text: "When your teacher starts one, it appears here by itself." })))));
}

function scheduledRow() {
  const title = h("p", { class: "row-title" });
  const meta = h("p", { class: "row-meta muted" });
  const countdown = h("span", { class: "countdown", dataset: { tick: "countdown" } });
  const el = h("li", { class: "row-card" }, h("div", { class: "row-main" }, title, meta), countdown);
  return {
    el,
    update(s) {
      el._schedule = s;
      el.dataset.scheduleId = s.schedule_id;
      title.textContent = s.title || "Untitled lecture";
      meta.textContent = [s.subject, formatClock(s.scheduled_time),
        s.duration_minutes ? `${s.duration_minutes} min` : null].filter(Boolean).join(" · ");
      countdown.textContent = countdownText(s);
    },
  };
}

function renderScheduled(scheduled) {
  const pending = scheduled
    .filter((s) => !s.status || s.status === "pending")
    .sort((a, b) => (parseTime(a.scheduled_time) ?? 0) - (parseTime(b.scheduled_time) ?? 0));
  syncList($("#scheduled"), pending.length ? pending : [null], (s) => (s ? s.schedule_id : "empty"),
    (s) => (s ? scheduledRow()
      : placeholder(h("li", { class: "empty-row muted", text: "Nothing scheduled." }))));
}

function endedRow() {
  const title = h("p", { class: "row-title" });
  const meta = h("p", { class: "row-meta muted" });
  const summary = h("p", { class: "summary", hidden: true });
  const el = h("li", { class: "row-card row-ended" },
    h("div", { class: "row-main" }, title, meta, summary));
  return {
    el,
    update(l) {
      el.dataset.sessionId = l.session_id;
      title.textContent = l.title || "Untitled lecture";
      meta.textContent = [l.subject, `${formatClock(l.start_time)}–${formatClock(l.end_time)}`]
        .filter(Boolean).join(" · ");
      summary.textContent = l.summary || "";
      summary.hidden = !l.summary;
    },
  };
}

function renderEnded(ended) {
  const today = ended
    .filter((l) => !l.end_time || isToday(l.end_time))
    .sort((a, b) => (parseTime(b.end_time) ?? 0) - (parseTime(a.end_time) ?? 0));
  syncList($("#ended"), today.length ? today : [null], (l) => (l ? l.session_id : "empty"),
    (l) => (l ? endedRow()
      : placeholder(h("li", { class: "empty-row muted", text: "No finished lectures yet today." }))));
}

function renderStale(info) {
  const el = $("#stale");
  if (!info.stale || (!info.savedAt && !info.fromCache)) {
    el.hidden = true;
    return;
  }
  const at = info.savedAt ? formatClock(info.savedAt) : null;
  el.textContent = at
    ? `Showing saved information from ${at}. It updates when the classroom box is reachable again.`
    : "Showing saved information. It updates when the classroom box is reachable again.";
  el.hidden = false;
}

function render(state, info) {
  renderLive(state.live.filter(mine));
  answers.render(state, state.live.some(mine));
  renderScheduled(state.scheduled.filter(mine));
  renderEnded(state.ended.filter(mine));
  renderStale(info);
  document.body.dataset.stale = info.stale ? "true" : "false";
  document.body.dataset.lastSeq = info.lastSeq ?? "";
}

function tick() {
  for (const el of document.querySelectorAll("[data-tick=left]")) {
    const card = el.closest(".live-card");
    if (card && card._lecture) el.textContent = timeLeftText(card._lecture);
  }
  for (const el of document.querySelectorAll("[data-tick=countdown]")) {
    const li = el.closest(".row-card");
    if (li && li._schedule) el.textContent = countdownText(li._schedule);
  }
}

let dashboardStarted = false;

function startDashboard(identity) {
  if (dashboardStarted) return;
  dashboardStarted = true;
  me = identity;
  // The box's name only when IT gave it one: the default "Classroom" tells a student nothing.
  $("#dash-box").textContent = identity.box_name || "";
  $("#dash-box").hidden = !identity.box_name;
  showNames(identity);
  showView("dashboard");

  const badge = $("#conn");
  badge.hidden = false;
  stream = createStream({ storageKey: `student:${identity.student.id}`, hello: "student_connect" });
  answers = mountStudentAnswers(identity.student.id, stream);
  stream.onState(render);
  stream.onEvent((name, payload) => {
    if (name === "section_updated" && mine(payload)) {
      me = { ...me, class_name: payload.class_name, section_name: payload.section_name };
      saveCachedMe(me);
      showNames(me);
    }
    addNotice(name, payload);
  });
  stream.on("removed", onRemoved);
  stream.onStatus((status, info) => {
    setBadge(badge, status);
    if (status === "connected") answers.flush(); // the link is back: send what waits now
    renderStale({ ...info, stale: stream.stale });
    if (status === "denied" && !removed) onDenied();
  });
  stream.start();
  window.setInterval(tick, 1000);
}

/** The class and section as the heading, the section with the name below it (so a long class
 * name wraps as a heading should instead of leaving "· Section A" alone on a second line). */
function showNames(identity) {
  $("#dash-class").textContent = identity.class_name || "My class";
  $("#dash-who").textContent = [
    identity.section_name ? `Section ${identity.section_name}` : null,
    identity.student?.name ? `Signed in as ${identity.student.name}` : null,
  ].filter(Boolean).join(" · ");
  document.title = `${identity.class_name || "My class"} · classroom-box`;
}

/** The teacher removed this student: say so plainly and offer the join code form. */
function onRemoved() {
  removed = true;
  if (stream) stream.close(true);
  if (me) clearStream(`student:${me.student.id}`);
  saveCachedMe(null);
  $("#conn").hidden = true;
  showCode("Your teacher removed you from this class. If that was a mistake, type the join code"
    + " to join again.");
}

async function onDenied() {
  // The box refused our login (e.g. it was reset). Ask it who we are; only a clear "nobody"
  // sends the student back to the join form, never a network hiccup.
  const who = await whoAmI();
  if (who.kind === "anonymous") {
    saveCachedMe(null);
    showCode("You are no longer joined on this box. Scan the QR code or type the join code to join again.");
  }
}

// ---------------------------------------------------------------- boot

async function main() {
  registerServiceWorker();
  const code = joinCodeFromPath();
  const who = await whoAmI();
  if (who.kind === "student") {
    const cached = loadCachedMe();
    const identity = {
      ...(cached && cached.student.id === who.me.student.id ? cached : {}),
      ...who.me,
    };
    saveCachedMe(identity);
    if (code) await showJoin(code, { kind: "student", me: identity });
    else startDashboard(identity);
    return;
  }
  if (who.kind === "unreachable") {
    const cached = loadCachedMe();
    if (cached) {
      startDashboard(cached); // last known state, marked stale, catches up when the box is back
      return;
    }
    showCode("Can't reach the classroom box. Check that you are on the classroom Wi-Fi, then reload.");
    return;
  }
  if (who.kind === "anonymous") saveCachedMe(null);
  if (code) await showJoin(code, who);
  else showCode();
}

main();
