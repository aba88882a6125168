/**
 * teacher-join.js — handing out a section's join link: the QR code dialog (big enough for the
 * projector, fullscreen and print) and "Copy link".
 *
 * The QR code is an SVG the box draws (/api/sections/ID/qr.svg), so nothing is fetched from outside;
 * copying falls back to a hidden textarea because plain http on the LAN has no clipboard API.
 */
import { $, h } from "/static/js/ui.js";

export function openQr(cls, section) {
  const dlg = $("#qr-dialog");
  $("#qr-class").textContent = `${cls.name} · Section ${section.name}`;
  $("#qr-img").src = `/api/sections/${encodeURIComponent(section.section_id)}/qr.svg`;
  $("#qr-url").textContent = section.join_url || `${window.location.origin}/join/${section.join_code}`;
  $("#qr-code").textContent = section.join_code;
  if (typeof dlg.showModal === "function") dlg.showModal();
  else dlg.setAttribute("open", "");
  $("#qr-close").focus();
}

export function wireQrDialog() {
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

export async function copyText(text, button) {
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
