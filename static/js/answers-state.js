/**
 * answers-state.js — how the answer-back events change the state the pages keep (stream.js).
 *
 * Why separate: stream.js and stream-state.js own ordering and storage (the event names come
 * from event_types.js); this file only says what `question_opened`, `hand_update` and friends
 * mean for the state, for both pages (students keep `questions`, `hand`,
 * `pulse`, `my_answers`; teachers keep `participation`, one entry per section).
 */

/** Copy the answer-back parts of a state_sync / stored record into a normalised state. */
export function keepAnswerState(src, out) {
  out.questions = Array.isArray(src.questions) ? src.questions.slice() : [];
  // entries copied: the reducer below replaces their lists, never the previous state's
  out.participation = Array.isArray(src.participation) ? src.participation.map((e) => ({ ...e })) : [];
  out.my_answers = src.my_answers && typeof src.my_answers === "object" ? { ...src.my_answers } : {};
  out.hand = src.hand && typeof src.hand === "object" ? { ...src.hand } : { raised: false };
  out.pulse = typeof src.pulse === "string" ? src.pulse : null;
  return out;
}

function withoutQuestion(list, id) {
  return list.filter((q) => q.question_id !== id);
}

/** The teacher's entry for a section (created if a new section shows up). */
function sectionOf(s, sectionId) {
  let entry = s.participation.find((x) => x.section_id === sectionId);
  if (!entry) {
    entry = { section_id: sectionId, online: 0, questions: [], hands: [], pulse: { got_it: 0, lost: 0 }, asks: [] };
    s.participation = [...s.participation, entry];
  }
  return entry;
}

/** Apply one answer-back event to a (normalised, copied) state; returns it. */
export function applyAnswerEvent(s, name, p) {
  const q = p.question;
  switch (name) {
    case "question_opened":
      s.questions = [...withoutQuestion(s.questions, p.question_id), q];
      if (s.participation.length) {
        const entry = sectionOf(s, p.section_id);
        const counts = (q.options || []).map(() => 0);
        const tally = q.kind === "single" || q.kind === "multiple" ? { answered: 0, counts } : { answered: 0 };
        entry.questions = [...withoutQuestion(entry.questions, p.question_id), { ...q, tally }];
      }
      break;
    case "question_closed":
      s.questions = withoutQuestion(s.questions, p.question_id);
      for (const entry of s.participation) entry.questions = withoutQuestion(entry.questions, p.question_id);
      break;
    case "results_revealed":
      s.questions = [...withoutQuestion(s.questions, p.question_id),
        { ...q, correct: p.correct, results: p.results }];
      break;
    case "hand_update":
      if (s.participation.length) {
        const entry = sectionOf(s, p.section_id);
        const others = entry.hands.filter((x) => x.student_id !== p.student_id);
        entry.hands = p.raised
          ? [...others, { student_id: p.student_id, name: p.name, raised_at: p.raised_at }]
          : others;
      } else {
        s.hand = { raised: Boolean(p.raised), raised_at: p.raised_at || null };
      }
      break;
    case "ask_received":
      if (s.participation.length) {
        const entry = sectionOf(s, p.section_id);
        entry.asks = [...entry.asks.filter((a) => a.ask_id !== p.ask_id),
          { ask_id: p.ask_id, student_id: p.student_id, name: p.name, text: p.text, asked_at: p.asked_at }];
      }
      break;
    case "ask_done":
      for (const entry of s.participation) entry.asks = entry.asks.filter((a) => a.ask_id !== p.ask_id);
      break;
    case "lecture_started":
      s.pulse = null; // the pulse is per lecture
      for (const entry of s.participation) {
        if (entry.section_id === p.section_id) entry.pulse = { got_it: 0, lost: 0 };
      }
      break;
    default:
      break;
  }
  return s;
}
