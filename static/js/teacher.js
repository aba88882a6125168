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
import { ApiError, boxNow, get, patch, post } from "/static/js/api.js";
import { createStream } from "/static/js/stream.js";
import { buildAnswerPanel } from "/static/js/teacher-answers.js";
import { LIMITS, textInput, errorBox, requireText, wireForm } from "/static/js/teacher-forms.js";
import { buildStartForm, buildScheduleForm, updatePanel } from "/static/js/teacher-lecture.js";
import { buildRoster, loadRoster, renderRoster } from "/static/js/teacher-roster.js";
import {
  $, h, showView, setBadge, busy, formError, fieldError, formatClock, countdownText,
  registerServiceWorker, confirmDialog,
} from "/static/js/ui.js";
import { historyView } from "/static/js/records.js";
import { page } from "/static/js/teacher-state.js";

let user = null;
let stream = null;
let tickTimer = 0;

// ---------------------------------------------------------------- sections

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

  buildRoster(p);
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
