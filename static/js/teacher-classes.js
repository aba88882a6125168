/**
 * teacher-classes.js — the teacher's classes: one block per class (rename, add a section, archive)
 * with a card per section (join code and link, QR, new join code, rename; the lecture controls,
 * answers and roster inside), the "New class" form and the archived classes.
 *
 * The cards are rebuilt from GET /api/classes after a change to the classes or their sections
 * (rare: a rename, a new section or join code; a rename from another tab arrives as
 * `section_updated`); what changes during a lecture is patched in place by teacher-lecture.js
 * `updatePanel`. The panels built here are recorded in teacher-state.js.
 */
import { get, patch, post } from "/static/js/api.js";
import { buildAnswerPanel } from "/static/js/teacher-answers.js";
import { LIMITS, textInput, errorBox, requireText, wireForm } from "/static/js/teacher-forms.js";
import { copyText, openQr } from "/static/js/teacher-join.js";
import { buildStartForm, buildScheduleForm, updatePanel } from "/static/js/teacher-lecture.js";
import { buildRoster, loadRoster } from "/static/js/teacher-roster.js";
import { page } from "/static/js/teacher-state.js";
import { $, h, busy, fieldError, confirmDialog } from "/static/js/ui.js";

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

// ---------------------------------------------------------------- new class

export function wireClassForm() {
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

export async function loadClasses() {
  const data = await get("/api/classes");
  page.classes = (data && data.classes) || [];
  renderClasses(page.classes);
}

/** Archived classes, each with "Unarchive" (shown on request, under the active ones). */
export async function showArchived() {
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

