/**
 * student-answers.js — the student's side of answering back: question cards, results, hand,
 * pulse and "ask the teacher".
 *
 * Answers are shown as given at once and go through the outbox (outbox.js), which keeps them
 * across reloads and sends them until the box acknowledges them; each shows "Sending…", "Sent ✓"
 * or "Refused" plainly. Everything students typed is put on the page as text (ui.js `h`).
 */
import { post } from "/static/js/api.js";
import { createOutbox } from "/static/js/outbox.js";
import { patchList } from "/static/js/patch-list.js";
import { $, h, busy } from "/static/js/ui.js";

const STATUS_TEXT = {
  sending: "Sending…",
  sent: "Sent ✓",
};

let outbox = null;
let stream = null; // the page's event stream: hand and pulse go over its socket while it is up
let current = null; // the last state rendered
const cards = new Map(); // question_id -> card row (patch-list.js)

function statusText(item) {
  if (!item) return "";
  if (item.status === "refused") {
    return item.reason === "closed" ? "Refused: the question was closed" : `Refused: ${item.reason}`;
  }
  return STATUS_TEXT[item.status] || "";
}

/** What this student answered: the outbox knows best, then what the box said at sync. */
function myValue(q) {
  const item = outbox.latestFor(q.question_id);
  if (item && item.status !== "refused") return item.value;
  const stored = current.my_answers[String(q.question_id)];
  return stored === undefined ? null : stored;
}

function statusOf(q) {
  const item = outbox.latestFor(q.question_id);
  if (item) return item;
  return current.my_answers[String(q.question_id)] !== undefined ? { status: "sent" } : null;
}

function optionButtons(q, rec) {
  const list = h("div", { class: "options", role: "group", "aria-label": "Answer options" });
  const boxes = [];
  q.options.forEach((text, i) => {
    if (q.kind === "single") {
      const b = h("button", { type: "button", class: "btn btn-option", text, dataset: { index: i } });
      b.addEventListener("click", () => outbox.answer(q, i));
      list.append(b);
      boxes.push(b);
    } else {
      const id = `q${q.question_id}-o${i}`;
      const input = h("input", { type: "checkbox", id, value: String(i) });
      list.append(h("label", { class: "option-check", for: id }, input, h("span", { text })));
      boxes.push(input);
    }
  });
  rec.choices = boxes;
  if (q.kind === "multiple") {
    const send = h("button", { type: "button", class: "btn btn-primary", text: "Send answer" });
    send.addEventListener("click", () => {
      const chosen = boxes.filter((b) => b.checked).map((b) => Number(b.value));
      if (chosen.length) outbox.answer(q, chosen);
    });
    return [list, send];
  }
  return [list];
}

function freeAnswer(q) {
  const id = `q${q.question_id}-value`;
  const input = q.kind === "number"
    ? h("input", { id, type: "number", step: "any", inputmode: "decimal" })
    : h("input", { id, type: "text", maxlength: "500", autocomplete: "off" });
  const form = h("form", { class: "form form-inline", novalidate: true },
    h("label", { for: id, class: "visually-hidden", text: "Your answer" }), input,
    h("button", { type: "submit", class: "btn btn-primary", text: "Send answer" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const raw = input.value.trim();
    const value = q.kind === "number" ? Number(raw) : raw;
    if (!raw || (q.kind === "number" && !Number.isFinite(value))) return;
    outbox.answer(q, value);
  });
  return [form];
}

function buildOpenCard(q) {
  const rec = { choices: [] };
  const status = h("p", { class: "answer-status", role: "status" });
  const parts = q.kind === "single" || q.kind === "multiple" ? optionButtons(q, rec) : freeAnswer(q);
  rec.el = h("article", { class: "card card-pad question-card", dataset: { questionId: q.question_id } },
    h("p", { class: "eyebrow", text: "Question" }),
    h("h3", { class: "question-prompt", text: q.prompt }), ...parts, status);
  rec.update = () => {
    const mine = myValue(q);
    rec.choices.forEach((b, i) => {
      const chosen = Array.isArray(mine) ? mine.includes(i) : mine === i;
      if (b.tagName === "BUTTON") b.setAttribute("aria-pressed", chosen ? "true" : "false");
      else if (b !== document.activeElement && mine !== null) b.checked = chosen;
    });
    const item = statusOf(q);
    status.textContent = statusText(item);
    status.dataset.status = item ? item.status : "";
  };
  return rec;
}

function buildResultCard(q) {
  const total = Math.max(1, q.results?.answered || 0);
  const mine = myValue(q);
  const chosen = (i) => (Array.isArray(mine) ? mine.includes(i) : mine === i);
  const bars = (q.results?.counts || []).map((count, i) => h("li", { class: "result-row",
    dataset: { correct: (q.correct || []).includes(i) ? "true" : "false" } },
  h("span", { class: "result-label", text: `${q.options[i]}${(q.correct || []).includes(i) ? " ✓" : ""}` }),
  h("meter", { class: "result-bar", min: 0, max: total, value: count, "aria-label": q.options[i] }),
  h("span", { class: "result-count", text: String(count) }),
  chosen(i) ? h("span", { class: "pill", text: "your answer" }) : null));
  let verdict = null;
  if (mine !== null && Array.isArray(q.correct)) {
    const picked = Array.isArray(mine) ? [...mine].sort() : [mine];
    const right = JSON.stringify(picked) === JSON.stringify([...q.correct].sort());
    verdict = h("p", { class: "verdict", dataset: { right: String(right) },
      text: right ? "You were right ✓" : "Not this time" });
  }
  const el = h("article", { class: "card card-pad question-card result-card", dataset: { questionId: q.question_id } },
    h("p", { class: "eyebrow", text: "Results" }),
    h("h3", { class: "question-prompt", text: q.prompt }),
    bars.length ? h("ul", { class: "results" }, bars) : null,
    h("p", { class: "muted", text: `${q.results?.answered || 0} answered` }), verdict);
  return { el, update() {} };
}

function buildCard(q) {
  return q.revealed ? buildResultCard(q) : buildOpenCard(q);
}

function renderQuestions() {
  patchList($("#questions"), cards, current.questions, (q) => q.question_id, buildCard,
    (q) => (q.revealed ? "revealed" : "open"));
  renderSettled(new Set(current.questions.map((q) => q.question_id)));
}

/** Answers whose question is no longer on screen, so "refused" is never silent. */
function renderSettled(onScreen) {
  const list = $("#my-answers");
  const latest = new Map();
  for (const item of outbox.items) if (item.kind === "answer") latest.set(item.question_id, item);
  const rows = [...latest.values()].filter((i) => !onScreen.has(i.question_id)).slice(-5).reverse()
    .map((i) => h("li", { class: "row-card", dataset: { status: i.status } },
      h("span", { class: "row-title", text: i.prompt || "A question" }),
      h("span", { class: "answer-status", text: statusText(i) })));
  list.replaceChildren(...rows);
  list.hidden = rows.length === 0;
}

function renderAsks() {
  const rows = outbox.items.filter((i) => i.kind === "ask").slice(-5).reverse()
    .map((i) => h("li", { class: "row-card", dataset: { status: i.status } },
      h("span", { class: "row-title", text: i.text }),
      h("span", { class: "answer-status", text: statusText(i) })));
  $("#my-asks").replaceChildren(...rows);
}

function renderSignals(live) {
  $("#signals").hidden = !live;
  const hand = $("#hand-button");
  hand.setAttribute("aria-pressed", current.hand.raised ? "true" : "false");
  hand.textContent = current.hand.raised ? "Lower my hand" : "Raise my hand";
  for (const b of document.querySelectorAll("[data-pulse]")) {
    b.setAttribute("aria-pressed", current.pulse === b.dataset.pulse ? "true" : "false");
  }
}

function signalError(message) {
  const el = $("#signals-error");
  el.textContent = message || "";
  el.hidden = !message;
}

/** A hand or pulse change: over the socket while it is connected (cheaper for the box), else HTTP. */
function signal(path, body, event, data) {
  return stream && stream.connected ? stream.request(event, data) : post(path, body);
}

function wireSignals() {
  const hand = $("#hand-button");
  hand.addEventListener("click", () => busy(hand, async () => {
    signalError(null);
    try {
      const raised = !current.hand.raised;
      const res = await signal("/api/hand", { raised }, raised ? "raise_hand" : "lower_hand", {});
      current.hand = res.hand;
      renderSignals(true);
    } catch (err) {
      signalError(err.message);
    }
  }));
  for (const b of document.querySelectorAll("[data-pulse]")) {
    b.addEventListener("click", () => busy(b, async () => {
      signalError(null);
      const value = current.pulse === b.dataset.pulse ? null : b.dataset.pulse;
      try {
        await signal("/api/pulse", { value }, "pulse", { value });
        current.pulse = value;
        renderSignals(true);
      } catch (err) {
        signalError(err.message);
      }
    }));
  }
  const form = $("#ask-form");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("#ask-text");
    const text = input.value.trim();
    if (!text) return;
    outbox.ask(text.slice(0, 500));
    input.value = "";
  });
}

/** Set up once per page; `render(state)` on every state change. */
export function mountStudentAnswers(studentId, pageStream) {
  stream = pageStream;
  outbox = createOutbox(`student:${studentId}`, () => {
    if (current) {
      for (const rec of cards.values()) rec.update();
      renderSettled(new Set(current.questions.map((q) => q.question_id)));
      renderAsks();
    }
  }, stream);
  wireSignals();
  return {
    render(state, live) {
      current = state;
      renderQuestions();
      renderAsks();
      renderSignals(live);
    },
    flush: () => outbox.flush(),
  };
}
