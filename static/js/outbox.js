/**
 * outbox.js — what a student sent, kept until the box acknowledges it, exactly once by key.
 *
 * Why: Wi-Fi drops, phones sleep, pages get reloaded. An answer goes into this outbox (in
 * localStorage, so a reload or a dead battery does not lose it) with a random Idempotency-Key, and
 * is sent until the box answers: over the page's socket while it is connected (the box spends a
 * fifth of an HTTP request's CPU on a socket answer, which counts when a whole class answers at
 * once on a Pi), over HTTP otherwise. A retry with the same key, on either path, can never count
 * twice: the box stores the key with the answer and replays its first result. Each item is
 * "sending", "sent" or "refused" (e.g. the question closed before the answer arrived), never lost
 * silently.
 */
import { ApiError } from "/static/js/api.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000;
const KEEP = 50; // settled items kept to show their outcome

/** 32 hex characters; crypto.getRandomValues also works on plain-HTTP LAN pages. */
export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function send(item) {
  const path = item.kind === "ask" ? "/api/asks" : `/api/questions/${item.question_id}/answers`;
  const body = item.kind === "ask" ? { text: item.text } : { value: item.value };
  let res;
  try {
    res = await fetch(path, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": item.key },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "not reachable");
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || `error ${res.status}`);
  }
  return data;
}

/** The HTTP status behind a negative ack's code, where it is not a plain 4xx: these are worth
 *  trying again (the box busy, its disk full: space may come back), as over HTTP. */
const SOCKET_STATUS = { throttled: 429, internal: 500, storage_damaged: 503, disk_full: 507 };

/** The same item as a socket event; the ack carries what the HTTP body would. */
async function sendOverSocket(item, socket) {
  const [name, data] = item.kind === "ask"
    ? ["ask", { key: item.key, text: item.text }]
    : ["answer", { question_id: item.question_id, key: item.key, value: item.value }];
  try {
    return await socket.request(name, data, 5000);
  } catch (err) {
    if (!err.code) throw new ApiError(0, "network", "no answer over the socket");
    throw new ApiError(SOCKET_STATUS[err.code] || 400, err.code, err.message);
  }
}

/** Worth trying again later: no answer at all, the box busy, or a rate limit. */
function transient(err) {
  return !(err instanceof ApiError) || err.status === 0 || err.status === 429 || err.status >= 500;
}

/**
 * @param {string} storageKey
 * @param {Function} onChange  called with the items after every change
 * @param {object} [socket]    the page's stream (`connected`, `request`); without it, HTTP only
 */
export function createOutbox(storageKey, onChange, socket = null) {
  const key = `classroom-box:outbox:${storageKey}`;
  let items = load();
  let running = false;
  let timer = 0;
  let delay = RETRY_MIN_MS;

  function load() {
    try {
      const v = JSON.parse(localStorage.getItem(key) || "[]");
      // nothing is in flight in a page that just loaded
      return Array.isArray(v) ? v.filter((i) => i && typeof i.key === "string").map((i) => ({ ...i, inFlight: false })) : [];
    } catch {
      return [];
    }
  }

  function save() {
    const settled = items.filter((i) => i.status !== "sending");
    if (settled.length > KEEP) {
      const drop = new Set(settled.slice(0, settled.length - KEEP));
      items = items.filter((i) => !drop.has(i));
    }
    try {
      localStorage.setItem(key, JSON.stringify(items));
    } catch {
      /* storage full or disabled: still sent while the page is open */
    }
    onChange(items.slice());
  }

  /** Queue an answer; the same value for the same question while pending or sent is one answer. */
  function answer(question, value) {
    const same = JSON.stringify(value);
    const last = latestFor(question.question_id);
    if (last && last.status !== "refused" && JSON.stringify(last.value) === same) return last;
    // An older answer not yet sent is replaced (the box counts the last one anyway).
    items = items.filter((i) => !(i.question_id === question.question_id && i.status === "sending" && !i.inFlight));
    const item = { kind: "answer", key: newKey(), question_id: question.question_id, prompt: question.prompt,
      value, status: "sending", at: Date.now() };
    items.push(item);
    save();
    flush();
    return item;
  }

  function ask(text) {
    const item = { kind: "ask", key: newKey(), text, status: "sending", at: Date.now() };
    items.push(item);
    save();
    flush();
    return item;
  }

  function latestFor(questionId) {
    for (let i = items.length - 1; i >= 0; i -= 1) {
      if (items[i].kind === "answer" && items[i].question_id === questionId) return items[i];
    }
    return null;
  }

  /** Send what is pending, one at a time and in order (a later answer must arrive last). */
  async function flush() {
    if (running) return;
    running = true;
    window.clearTimeout(timer);
    try {
      for (;;) {
        const item = items.find((i) => i.status === "sending");
        if (!item) break;
        item.inFlight = true;
        try {
          const data = socket && socket.connected
            ? await sendOverSocket(item, socket)
            : await send(item);
          item.status = "sent";
          item.result = data.answer || data.ask || null;
          delay = RETRY_MIN_MS;
        } catch (err) {
          if (transient(err)) {
            item.inFlight = false;
            timer = window.setTimeout(flush, delay);
            delay = Math.min(RETRY_MAX_MS, delay * 2);
            break;
          }
          item.status = "refused";
          item.reason = err.code === "question_closed" ? "closed" : err.message;
        } finally {
          item.inFlight = false;
          save();
        }
      }
    } finally {
      running = false;
    }
  }

  window.addEventListener("online", () => {
    delay = RETRY_MIN_MS;
    flush();
  });

  return {
    answer,
    ask,
    latestFor,
    /** Try now (e.g. the socket just reconnected). */
    flush() {
      delay = RETRY_MIN_MS;
      flush();
    },
    get items() {
      return items.slice();
    },
  };
}
