/**
 * teacher-answers.js — the teacher's side of answering back, one panel per section: ask the
 * class, live tallies, close / reveal / CSV, raised hands, the pulse and students' questions.
 *
 * Hands, asks and the open questions come from the event stream's state (seq'd, replayed after a
 * reconnect); tallies and the pulse come as coalesced `answer_tally` / `pulse_update` messages and
 * are exact after the last one. Bars are <meter> elements: no chart library, nothing inline.
 */
import { get, post } from "/static/js/api.js";
import { patchList } from "/static/js/patch-list.js";
import { h, busy, formError } from "/static/js/ui.js";

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

function labelled(text, input, hint) {
  return h("div", { class: "field" }, h("label", { for: input.id, text }), input,
    hint ? h("p", { class: "hint", text: hint }) : null);
}

/** "2" or "1, 3" (1-based, as the teacher counts) -> [1] or [0, 2]; null when empty. */
function parseCorrect(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  if (!parts.length) return null;
  return parts.map((x) => Number(x) - 1);
}

function buildAskForm(p, onAsked) {
  const kind = h("select", { id: nextId("kind") },
    h("option", { value: "single", text: "One answer" }),
    h("option", { value: "multiple", text: "Several answers" }),
    h("option", { value: "text", text: "Text" }),
    h("option", { value: "number", text: "Number" }));
  const prompt = h("textarea", { id: nextId("prompt"), rows: "2", maxlength: "500" });
  const options = h("textarea", { id: nextId("options"), rows: "4" });
  const correct = h("input", { id: nextId("correct"), type: "text", inputmode: "numeric", autocomplete: "off" });
  const optionFields = h("div", {},
    labelled("Options", options, "One per line, 2 to 10."),
    labelled("Correct option(s)", correct, "Optional: numbers from the list above, e.g. 2 or 1, 3."));
  kind.addEventListener("change", () => {
    optionFields.hidden = kind.value === "text" || kind.value === "number";
  });
  const form = h("form", { class: "form", novalidate: true, dataset: { form: "ask-class" } },
    labelled("Kind", kind), labelled("Question", prompt), optionFields,
    h("p", { class: "form-error", role: "alert", hidden: true }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Ask the class" })));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const body = { class_id: p.classId, section_id: p.sectionId, kind: kind.value, prompt: prompt.value.trim() };
    if (!optionFields.hidden) {
      body.options = options.value.split("\n").map((x) => x.trim()).filter(Boolean);
      const right = parseCorrect(correct.value);
      if (right) body.correct = right;
    }
    if (!body.prompt) {
      formError(form, "Please type the question.");
      return;
    }
    try {
      await busy(form.querySelector("button[type=submit]"), () => post("/api/questions", body), "Asking…");
      prompt.value = "";
      options.value = "";
      correct.value = "";
      onAsked();
    } catch (err) {
      formError(form, err.message);
    }
  });
  return form;
}

/** Tally bars built once per question (its options do not change), updated in place. */
function buildBars(q) {
  if (q.kind !== "single" && q.kind !== "multiple") return { el: null, update() {} };
  const rows = q.options.map((text, i) => {
    const meter = h("meter", { class: "result-bar", min: 0, max: 1, value: 0, "aria-label": text });
    const count = h("span", { class: "result-count", text: "0" });
    const li = h("li", { class: "result-row", dataset: { correct: (q.correct || []).includes(i) ? "true" : "false" } },
      h("span", { class: "result-label", text: `${i + 1}. ${text}` }), meter, count);
    return { li, meter, count };
  });
  return {
    el: h("ul", { class: "results" }, rows.map((r) => r.li)),
    update(tally) {
      const counts = (tally && tally.counts) || [];
      const max = Math.max(1, (tally && tally.answered) || 0);
      rows.forEach((r, i) => {
        r.meter.max = max;
        r.meter.value = counts[i] || 0;
        r.count.textContent = String(counts[i] || 0);
      });
    },
  };
}

export function buildAnswerPanel(p) {
  const tallies = new Map(); // question_id -> newest answer_tally
  let pulse = null; // newest pulse_update
  let recent = []; // this section's latest questions (GET /api/questions)
  let entry = { questions: [], hands: [], asks: [], pulse: { got_it: 0, lost: 0 }, online: 0 };

  const questionsList = h("div", { class: "stack", dataset: { list: "questions" } });
  const handsList = h("ul", { class: "name-list", dataset: { list: "hands" } });
  const asksList = h("ul", { class: "list-cards", dataset: { list: "asks" } });
  const noHands = h("p", { class: "muted", text: "No hands up." });
  const noAsks = h("p", { class: "muted", text: "No questions from students." });
  const questionRows = new Map();
  const handRows = new Map();
  const askRows = new Map();
  const gotIt = h("meter", { min: 0, max: 1, value: 0, "aria-label": "Got it" });
  const lost = h("meter", { min: 0, max: 1, value: 0, "aria-label": "Lost" });
  const gotItCount = h("span", { class: "result-count" });
  const lostCount = h("span", { class: "result-count" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });

  async function loadRecent() {
    try {
      recent = (await get(`/api/questions?section_id=${encodeURIComponent(p.sectionId)}`)).questions.slice(0, 5);
    } catch {
      return; // the open ones still show from the stream
    }
    render();
  }

  async function act(button, path, label) {
    error.hidden = true;
    try {
      await busy(button, () => post(path, {}), label);
      loadRecent();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  /** "Who has not answered": fetched when opened, then at most every 2 s while open (the full
   * answer list is heavier than a tally). */
  function buildMissing(q) {
    const REFRESH_MS = 2000;
    const m = { open: false, at: 0, names: null, error: null, timer: 0 };
    const list = h("ul", { class: "name-list" });
    const details = h("details", { class: "disclosure" }, h("summary", { text: "Who has not answered" }), list);
    function draw() {
      if (m.error) list.replaceChildren(h("li", { class: "form-error", text: m.error }));
      else if (m.names === null) list.replaceChildren(h("li", { class: "muted", text: "Loading…" }));
      else if (!m.names.length) list.replaceChildren(h("li", { class: "muted", text: "Everyone online has answered." }));
      else list.replaceChildren(...m.names.map((name) => h("li", { class: "pill", text: name })));
    }
    async function refresh() {
      window.clearTimeout(m.timer);
      if (!m.open || !details.isConnected) return;
      const wait = m.at + REFRESH_MS - Date.now();
      if (wait > 0) {
        m.timer = window.setTimeout(refresh, wait);
        return;
      }
      m.at = Date.now();
      try {
        const res = await get(`/api/questions/${q.question_id}/results`);
        const done = new Set(res.results.answers.map((a) => a.student_id));
        m.names = (p.rosterStudents || []).filter((s) => !done.has(s.id)).map((s) => s.name);
        m.error = null;
      } catch (err) {
        m.error = err.message;
      }
      draw();
      m.timer = window.setTimeout(refresh, REFRESH_MS);
    }
    details.addEventListener("toggle", () => {
      m.open = details.open;
      m.at = 0;
      refresh();
    });
    draw();
    return { el: details, update: refresh };
  }

  function statusOf(q) {
    return entry.questions.some((x) => x.question_id === q.question_id) ? "open" : q.status;
  }

  function questionCard(q) {
    const status = statusOf(q);
    const path = `/api/questions/${q.question_id}`;
    const actions = h("div", { class: "form-actions" });
    if (status === "open") {
      const close = h("button", { type: "button", class: "btn btn-secondary", text: "Close" });
      close.addEventListener("click", () => act(close, `${path}/close`, "Closing…"));
      actions.append(close);
    } else if (!q.revealed) {
      const reveal = h("button", { type: "button", class: "btn btn-secondary", text: "Reveal" });
      reveal.addEventListener("click", () => act(reveal, `${path}/reveal`, "Revealing…"));
      actions.append(reveal);
    }
    actions.append(h("a", { class: "btn btn-ghost", href: `${path}/results.csv`, download: `question-${q.question_id}.csv`, text: "CSV" }));
    const chart = buildBars(q);
    const answered = h("p", { class: "answered" });
    const missing = status === "open" ? buildMissing(q) : null;
    const el = h("article", { class: "card card-pad question-card", dataset: { questionId: q.question_id, status } },
      h("p", { class: "eyebrow", text: status === "open" ? "Open question" : q.revealed ? "Revealed" : "Closed" }),
      h("h5", { class: "question-prompt", text: q.prompt }), chart.el, answered,
      missing ? missing.el : null, actions);
    return {
      el,
      update(item) {
        const open = entry.questions.find((x) => x.question_id === item.question_id);
        const tally = tallies.get(item.question_id) || (open && open.tally) || item.results || null;
        chart.update(tally);
        const online = tally && tally.online !== undefined ? tally.online
          : pulse && pulse.section_id === p.sectionId ? pulse.online : entry.online;
        answered.textContent = `${tally ? tally.answered : 0} answered · ${online ?? 0} online`;
        if (missing) missing.update();
      },
    };
  }

  function renderQuestions() {
    const byId = new Map(recent.map((q) => [q.question_id, q]));
    for (const q of entry.questions) if (!byId.has(q.question_id)) byId.set(q.question_id, q);
    const shown = [...byId.values()].sort((a, b) => b.question_id - a.question_id).slice(0, 5);
    patchList(questionsList, questionRows, shown, (q) => q.question_id, questionCard,
      (q) => `${statusOf(q)}:${q.revealed}`);
  }

  function handRow(hand) {
    const b = h("button", { type: "button", class: "btn btn-ghost btn-small", text: `✋ ${hand.name}`,
      "aria-label": `Lower ${hand.name}'s hand` });
    b.addEventListener("click", () => busy(b, () => post(`/api/hands/${hand.student_id}/lower`,
      { section_id: p.sectionId }).catch(() => {})));
    return { el: h("li", {}, b) };
  }

  function askRow(a) {
    const done = h("button", { type: "button", class: "btn btn-ghost btn-small", text: "Done" });
    done.addEventListener("click", () => busy(done, () => post(`/api/asks/${a.ask_id}/done`, {}).catch(() => {})));
    return { el: h("li", { class: "row-card", dataset: { askId: a.ask_id } },
      h("div", { class: "row-main" }, h("p", { class: "row-title", text: a.text }),
        h("p", { class: "row-meta muted", text: a.name })), done) };
  }

  function renderPulse() {
    const now = pulse && pulse.section_id === p.sectionId ? pulse : entry.pulse;
    const total = Math.max(1, (now.got_it || 0) + (now.lost || 0));
    gotIt.max = total;
    lost.max = total;
    gotIt.value = now.got_it || 0;
    lost.value = now.lost || 0;
    gotItCount.textContent = String(now.got_it || 0);
    lostCount.textContent = String(now.lost || 0);
  }

  function render() {
    renderQuestions();
    patchList(handsList, handRows, entry.hands, (x) => x.student_id, handRow);
    noHands.hidden = entry.hands.length > 0;
    renderPulse();
    patchList(asksList, askRows, entry.asks, (x) => x.ask_id, askRow);
    noAsks.hidden = entry.asks.length > 0;
  }

  const el = h("section", { class: "sub-block answer-panel", "aria-label": "Students answer back" },
    h("details", { class: "disclosure" }, h("summary", { text: "Ask the class" }), buildAskForm(p, loadRecent)),
    error,
    questionsList,
    h("h4", { class: "sub-title", text: "Raised hands" }), handsList, noHands,
    h("h4", { class: "sub-title", text: "Pulse" }),
    h("div", { class: "pulse-gauge" }, h("span", { text: "Got it" }), gotIt, gotItCount),
    h("div", { class: "pulse-gauge" }, h("span", { text: "Lost" }), lost, lostCount),
    h("h4", { class: "sub-title", text: "Questions from students" }), asksList, noAsks);
  loadRecent();

  return {
    el,
    /** The stream's participation entry for this section changed (or a state_sync came). */
    update(next, reason) {
      if (next) entry = next;
      if (reason === "state_sync") {
        tallies.clear(); // the sync's tallies are exact; newer answer_tally messages follow
        pulse = null;
      }
      if ((reason && reason.startsWith("question_")) || reason === "results_revealed") loadRecent();
      render();
    },
    onTally(t) {
      tallies.set(t.question_id, t);
      renderQuestions();
    },
    onPulse(u) {
      pulse = u;
      render();
    },
  };
}
