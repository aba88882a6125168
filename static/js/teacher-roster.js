/**
 * teacher-roster.js — who is in a section: the "N students online" count on its card and the
 * student list under it (online first, last seen, "Remove" after a confirmation).
 *
 * The count follows the box's debounced `student_count` messages and is reloaded after a reconnect;
 * the full list is fetched only while it is open, so a closed list costs nothing on an event.
 */
import { del, get } from "/static/js/api.js";
import { h, busy, formatClock, syncList, confirmDialog } from "/static/js/ui.js";

/** The count (`p.countWrap`, for the card's head) and the list (`p.rosterWrap`), kept on `p`. */
export function buildRoster(p) {
  p.count = h("span", { class: "online-count", text: "0 students online" });
  p.countWrap = h("div", { class: "online", dataset: { online: "false" } }, h("span", { class: "dot", "aria-hidden": "true" }), p.count);
  p.rosterSummary = h("summary", { text: "Students (0 online)" });
  p.rosterList = h("ul", { class: "roster" });
  p.rosterWrap = h("details", { class: "disclosure roster-wrap" }, p.rosterSummary, p.rosterList);
  p.rosterWrap.addEventListener("toggle", () => {
    if (p.rosterWrap.open) loadStudents(p);
  });
}

export function renderRoster(p, roster) {
  const count = Number(roster.count ?? (roster.students || []).length) || 0;
  p.online = count;
  p.rosterStudents = roster.students || []; // for "who has not answered"
  p.count.textContent = count === 1 ? "1 student online" : `${count} students online`;
  p.countWrap.dataset.online = count > 0 ? "true" : "false";
  p.rosterSummary.textContent = `Students (${count} online)`;
  if (p.rosterWrap.open) loadStudents(p);
}

/** One student of the section: online dot, name, last seen, and Remove (after a confirmation). */
function studentRow(p) {
  const name = h("span", { class: "roster-name" });
  const seen = h("span", { class: "muted roster-seen" });
  const remove = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Remove" });
  const el = h("li", { class: "roster-item" }, h("span", { class: "dot", "aria-hidden": "true" }),
    name, seen, remove);
  remove.addEventListener("click", () => removeStudent(p, el._student, remove));
  return {
    el,
    update(st) {
      el._student = st;
      el.dataset.studentId = st.student_id;
      el.dataset.online = String(st.online);
      name.textContent = st.name;
      remove.setAttribute("aria-label", `Remove ${st.name}`);
      seen.textContent = st.online ? "online"
        : st.last_seen ? `last seen ${formatClock(st.last_seen)}` : "never connected";
    },
  };
}

/** Every student of the section, online first (fetched when the list is open). */
async function loadStudents(p) {
  let data;
  try {
    data = await get(`/api/sections/${encodeURIComponent(p.sectionId)}/students`);
  } catch (err) {
    p.rosterList.replaceChildren(h("li", { class: "form-error", role: "alert", text: err.message }));
    return;
  }
  const students = data.students.slice()
    .sort((a, b) => (b.online - a.online) || String(a.name).localeCompare(String(b.name)));
  syncList(p.rosterList, students.length ? students : [null], (st) => (st ? st.student_id : "nobody"),
    (st) => (st ? studentRow(p)
      : { el: h("li", { class: "muted", text: "Nobody has joined yet." }), update() {} }));
}

async function removeStudent(p, st, button) {
  const ok = await confirmDialog({
    title: `Remove ${st.name}?`,
    message: `${st.name} is signed out on their device at once and leaves the list. Their past`
      + " attendance stays in the records. They can join again with the join code, as a new student.",
    confirm: "Remove student",
  });
  if (!ok) return;
  try {
    await busy(button, () => del(`/api/students/${encodeURIComponent(st.student_id)}`), "Removing…");
  } catch (err) {
    p.notice(err.message);
  }
  await loadStudents(p);
}

export async function loadRoster(p) {
  try {
    renderRoster(p, await get(`/api/sections/${encodeURIComponent(p.sectionId)}/roster`));
  } catch {
    /* keep the last count; student_count events will correct it */
  }
}
