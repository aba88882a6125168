/**
 * index.js — landing page: turn a typed join code into /join/<code>.
 *
 * Why JS at all: the form also works without it (GET /join?code=...), but codes pasted with spaces
 * or typed in lower case should still land on the right page.
 */
import { $, fieldError, registerServiceWorker } from "/static/js/ui.js";

registerServiceWorker();

const form = $("#code-form");
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("#code-input");
  const code = input.value.replace(/\s+/g, "");
  if (!fieldError(input, code ? null : "Please type the join code from the board.")) {
    input.focus();
    return;
  }
  window.location.assign(`/join/${encodeURIComponent(code)}`);
});

try {
  if (localStorage.getItem("classroom-box:me:student")) $("#resume").hidden = false;
} catch {
  /* storage unavailable */
}
