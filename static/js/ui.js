/**
 * ui.js — small DOM helpers shared by the pages.
 *
 * Why: every piece of text a teacher or student typed reaches the page through textContent, never
 * innerHTML, so a lecture titled "<img onerror=...>" is just text. `h()` makes that the easy path.
 */
import { boxNow } from "/static/js/api.js";

/**
 * Create an element. attrs: class, text, hidden, dataset {..}, on {event: fn}, and plain attributes.
 * Children: nodes or strings (strings become text nodes).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "hidden") el.hidden = Boolean(v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/**
 * Show `items` in `container`, in order, patching in place: both pages draw every list this way.
 * `row(item)` builds a row once and returns `{ el, update(item) }`; a row whose key is already shown
 * only gets `update`, a new key is built, a key no longer listed is removed, and rows are moved
 * rather than recreated when the order changes.
 *
 * Why patch instead of rebuilding the list on every event: a rebuilt row loses keyboard focus (a
 * teacher tabbing to "Cancel" would be thrown back to the top of the page by a student joining),
 * text being typed, and a screen reader's place; an event changes one row, so only that row's
 * text should change.
 */
export function syncList(container, items, keyOf, row) {
  const shown = new Map();
  for (const el of container.children) if (el._row) shown.set(el.dataset.key, el);
  let before = container.firstChild;
  for (const item of items) {
    const key = String(keyOf(item));
    let el = shown.get(key);
    if (el) {
      shown.delete(key);
    } else {
      const made = row(item);
      el = made.el;
      el._row = made;
      el.dataset.key = key;
    }
    el._row.update(item);
    if (el !== before) container.insertBefore(el, before);
    before = el.nextSibling;
  }
  for (const el of shown.values()) el.remove();
  while (before) {
    const next = before.nextSibling;
    before.remove();
    before = next;
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Show exactly one of the page's views (elements with [data-view]). */
export function showView(name) {
  for (const v of $$("[data-view]")) v.hidden = v.dataset.view !== name;
  const active = $(`[data-view="${name}"]`);
  const heading = active && active.querySelector("h1, h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

/** Parse the box's ISO time; "no offset" means box local time, which the browser reads as local. */
export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

// "8:14 PM", not "08:14 PM": hour "numeric" drops the leading zero where the locale has one.
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });

/** "10:30", or "Tue 4 Jun, 10:30" when not today. */
export function formatClock(iso) {
  const t = parseTime(iso);
  if (t === null) return "—";
  const d = new Date(t);
  const today = new Date(boxNow());
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? timeFmt.format(d) : `${dayFmt.format(d)}, ${timeFmt.format(d)}`;
}

/** Whether an ISO time falls on the box's today. */
export function isToday(iso) {
  const t = parseTime(iso);
  return t !== null && new Date(t).toDateString() === new Date(boxNow()).toDateString();
}

/**
 * "1 h 05 min", "12 min", "0:45" (under a minute shows seconds). Minutes round up: with 26:59
 * left a countdown says "27 min", never a minute less than there is.
 */
export function formatSpan(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return `0:${String(total).padStart(2, "0")}`;
  const mins = Math.ceil(total / 60);
  if (mins < 60) return `${mins} min`;
  const hrs = Math.floor(mins / 60);
  return `${hrs} h ${String(mins % 60).padStart(2, "0")} min`;
}

/** When a live lecture ends by itself (ms), from the box's `planned_end`, else start + length. */
export function plannedEnd(lecture) {
  const planned = parseTime(lecture.planned_end);
  if (planned !== null) return planned;
  const start = parseTime(lecture.start_time);
  if (start === null || !lecture.duration_minutes) return null;
  return start + lecture.duration_minutes * 60000;
}

/** "9:45": when a live lecture ends by itself ("—" without a planned end). */
export function endsAt(lecture) {
  const end = plannedEnd(lecture);
  return end === null ? "—" : formatClock(new Date(end).toISOString());
}

/** Time left of a live lecture in ms (negative when it ran over), or null without a duration. */
export function timeLeft(lecture) {
  const end = plannedEnd(lecture);
  return end === null ? null : end - boxNow();
}

/** Human text for a live lecture's remaining time. */
export function timeLeftText(lecture) {
  const left = timeLeft(lecture);
  if (left === null) return "No set length";
  if (left <= 0) return `Over by ${formatSpan(-left)}`;
  return formatSpan(left);
}

/** Countdown text for a scheduled lecture. */
export function countdownText(schedule) {
  const t = parseTime(schedule.scheduled_time);
  if (t === null) return "";
  const ms = t - boxNow();
  if (ms <= 0) return "Starting now";
  return `Starts in ${formatSpan(ms)}`;
}

/** Fraction of the planned time already used, 0..1 (for the teacher's "time" meter). */
export function elapsedFraction(lecture) {
  const start = parseTime(lecture.start_time);
  if (start === null || !lecture.duration_minutes) return 0;
  return Math.min(1, Math.max(0, (boxNow() - start) / (lecture.duration_minutes * 60000)));
}

const STATUS_TEXT = {
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  denied: "Signed out",
};

/** Update a connection badge element (data-status drives its colour in CSS). */
export function setBadge(el, status) {
  if (!el) return;
  el.dataset.status = status;
  el.textContent = STATUS_TEXT[status] || status;
}

/**
 * Run an async action with the button disabled and a busy label, so it can't be double-submitted.
 * Returns the action's result; rethrows its error after re-enabling.
 */
export async function busy(button, action, busyText) {
  if (button.disabled) return undefined;
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busyText) button.textContent = label;
  }
}

/** Show an error (or clear it with null) in a form's [role=alert] element. */
export function formError(form, message) {
  const box = form.querySelector(".form-error");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

/**
 * Mark a field invalid with a message (or clear it). Uses aria-invalid + aria-describedby so screen
 * readers announce the reason, not just "invalid".
 */
export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let msg = document.getElementById(id);
  if (!msg) {
    msg = h("p", { id, class: "field-error", hidden: true });
    input.insertAdjacentElement("afterend", msg);
  }
  msg.textContent = message || "";
  msg.hidden = !message;
  if (message) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
  } else {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  return !message;
}

/** Register the service worker where the browser allows it; the pages work fully without it. */
export function registerServiceWorker() {
  if (!window.isSecureContext || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    /* no offline shell on this device: everything else still works */
  });
}

/**
 * Ask before something that cannot be undone. Resolves true only on the confirming button; Escape,
 * the backdrop or "keep" resolve false. A real <dialog>: focus is trapped and returned.
 */
export function confirmDialog({ title, message, confirm, keep = "Cancel", danger = true }) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`,
      text: confirm, dataset: { confirm: "yes" } });
    const no = h("button", { type: "button", class: "btn btn-ghost", text: keep,
      dataset: { confirm: "no" } });
    const titleId = `confirm-${Date.now()}`;
    const dlg = h("dialog", { class: "confirm-dialog", "aria-labelledby": titleId },
      h("div", { class: "card-pad" },
        h("h2", { class: "card-title", id: titleId, text: title }),
        h("p", { class: "confirm-text", text: message }),
        h("div", { class: "form-actions" }, ok, no)));
    let answer = false;
    ok.addEventListener("click", () => {
      answer = true;
      dlg.close();
    });
    no.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(answer);
    });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}
