/**
 * teacher.js — the teacher's page: sign in and out, the event stream and the clock that ticks the
 * countdowns, the "Today" / "History" tabs. The page's parts have their own modules: classes and
 * section cards (teacher-classes.js), lecture controls (teacher-lecture.js, teacher-live.js), who
 * is online (teacher-roster.js), the join QR code (teacher-join.js), answering back
 * (teacher-answers.js); what they share is in teacher-state.js.
 *
 * Lecture state comes from the same event stream the students use (stream.js), so what the teacher
 * sees is exactly what the box broadcast. Everything is built once and patched in place on events
 * (forms by their own `update`, lists by ui.js `syncList`, as on the student's page): a slider
 * being dragged, a note being typed or a focused "Cancel" button is never reset under the
 * teacher's fingers.
 */
import { ApiError, boxNow, get, post } from "/static/js/api.js";
import { createStream } from "/static/js/stream.js";
import { loadClasses, showArchived, wireClassForm } from "/static/js/teacher-classes.js";
import { wireForm } from "/static/js/teacher-forms.js";
import { wireQrDialog } from "/static/js/teacher-join.js";
import { updatePanel } from "/static/js/teacher-lecture.js";
import { loadRoster, renderRoster } from "/static/js/teacher-roster.js";
import {
  $, h, showView, setBadge, busy, formError, fieldError, formatClock, countdownText,
  registerServiceWorker,
} from "/static/js/ui.js";
import { historyView } from "/static/js/records.js";
import { page } from "/static/js/teacher-state.js";

let user = null;
let stream = null;
let tickTimer = 0;

// ---------------------------------------------------------------- tabs

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
