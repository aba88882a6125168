/**
 * setup.js — first-run teacher account creation from /setup?token=... (the link `serve` prints).
 *
 * Why the token: anyone on the classroom Wi-Fi can open this page; only the person who can see the
 * box's console (or its log) has the token, so only they can create the first teacher account.
 */
import { get, post } from "/static/js/api.js";
import { $, busy, fieldError, formError, showView, registerServiceWorker } from "/static/js/ui.js";

registerServiceWorker();

async function main() {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  try {
    const status = await get("/api/setup");
    if (status && status.needed === false) {
      showView("done");
      return;
    }
  } catch {
    /* show the form anyway; the POST will report what is wrong */
  }
  if (!token) $("#token-field").hidden = false;
  else $("#setup-token").value = token;
  // Don't keep the one-time token in the address bar or history once we have it.
  if (token) window.history.replaceState(null, "", "/setup");
  showView("setup");

  const form = $("#setup-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const tok = $("#setup-token").value.trim();
    const user = $("#setup-username");
    const pass = $("#setup-password");
    const confirm = $("#setup-confirm");
    const username = user.value.trim();
    const ok = [
      fieldError($("#setup-token"), tok ? null : "The setup code is missing."),
      fieldError(user, !username ? "Choose a username." : username.length > 80
        ? "80 characters at most." : null),
      fieldError(pass, pass.value.length < 8 ? "Use at least 8 characters." : null),
      fieldError(confirm, confirm.value !== pass.value ? "The passwords don't match." : null),
    ];
    // The error says it: the hint under the field would repeat it word for word.
    $("#setup-password-hint").hidden = pass.value.length < 8;
    if (ok.includes(false)) {
      form.querySelector("[aria-invalid=true]")?.focus();
      return;
    }
    try {
      await busy(form.querySelector("button[type=submit]"), async () => {
        await post("/api/setup", { token: tok, username, password: pass.value });
        window.location.assign("/teacher");
      }, "Creating…");
    } catch (err) {
      formError(form, err.message);
    }
  });
}

main();
