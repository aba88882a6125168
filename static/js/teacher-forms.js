/**
 * teacher-forms.js — the small pieces every form of the teacher's page is built from: a labelled
 * field, text and duration inputs, validation that marks the field, and `wireForm`.
 *
 * One place for the limits and the wording of errors, so that the start, schedule, progress, class
 * and rename forms all check input the same way (the box checks it again: this is for the teacher,
 * not for safety). Ids come from one counter so that labels stay unique across the page.
 */
import { ApiError } from "/static/js/api.js";
import { h, busy, formError, fieldError } from "/static/js/ui.js";

export const LIMITS = { title: 200, subject: 100, name: 80, text: 2000, minDuration: 1, maxDuration: 600 };

let uid = 0;
export const nextId = (p) => `${p}-${++uid}`;

export function field(labelText, input, hint) {
  if (!input.id) input.id = nextId("f");
  const parts = [h("label", { for: input.id, text: labelText }), input];
  if (hint) {
    const hid = `${input.id}-hint`;
    input.setAttribute("aria-describedby", hid);
    parts.push(h("p", { class: "hint", id: hid, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

export function textInput(name, max, attrs = {}) {
  return h("input", { type: "text", name, maxlength: String(max), autocomplete: "off", ...attrs });
}

export function durationInput(name, attrs = {}) {
  return h("input", {
    type: "number", name, min: String(LIMITS.minDuration), max: String(LIMITS.maxDuration),
    step: "1", inputmode: "numeric", ...attrs,
  });
}

export function errorBox() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

/** Validate a required text field; returns the trimmed value or null (and marks the field). */
export function requireText(input, label, max) {
  const v = input.value.trim();
  const msg = !v ? `${label} is required.` : v.length > max ? `${label}: ${max} characters at most.` : null;
  return fieldError(input, msg) ? v : null;
}

/** Validate an optional/required duration; returns number, undefined (empty, optional) or null. */
export function readDuration(input, required) {
  const raw = input.value.trim();
  if (!raw && !required) {
    fieldError(input, null);
    return undefined;
  }
  const n = Number(raw);
  const ok = Number.isInteger(n) && n >= LIMITS.minDuration && n <= LIMITS.maxDuration;
  return fieldError(input, ok ? null : `Enter whole minutes from ${LIMITS.minDuration} to ${LIMITS.maxDuration}.`)
    ? n : null;
}

export function optionalText(input, label, max) {
  const v = input.value.trim();
  return fieldError(input, v.length > max ? `${label}: ${max} characters at most.` : null) ? v : null;
}

/**
 * Wire a form: validate() returns a body or null; send(body) does the request. The submit button is
 * disabled while the request is in flight, so a double click can't send it twice.
 */
export function wireForm(form, { validate, send, busyText, after }) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const body = validate();
    if (body === null) {
      form.querySelector("[aria-invalid=true]")?.focus();
      return;
    }
    const button = ev.submitter && ev.submitter.form === form
      ? ev.submitter : form.querySelector("button[type=submit]");
    try {
      const res = await busy(button, () => send(body), busyText);
      if (after) after(res);
    } catch (err) {
      formError(form, err instanceof ApiError ? err.message : String(err.message || err));
    }
  });
}
