/**
 * stream.js — the documented way for a page to consume the classroom-box event stream.
 *
 * Why this exists: classroom Wi-Fi drops, phones sleep, the box reboots. The server keeps a durable
 * event log and, on every (re)connect, replays every event after the client's `last_seq`, then
 * sends `state_sync`. This helper holds up the client's half of that promise:
 *
 *  - it keeps `last_seq` (the highest seq it has processed) together with the state it describes in
 *    ONE localStorage record, so the two can never disagree after a reload;
 *  - it hands `last_seq` to socket.io-client through the `auth` *callback*, which the client calls
 *    on every connection attempt, so each retry sends the newest value, not the one from page load;
 *  - it drops every event it already has (exactly-once, in order);
 *  - it notices a lost event: `seq` is box-wide, so its gaps mean nothing, but every event names its
 *    `room` and that room's previous seq (`prev_seq`). It keeps the last seq it has per room (seeded
 *    by `state_sync.rooms`); an event whose `prev_seq` is above that means one never arrived, so it
 *    drops the event and reconnects with that room's seq as `last_seq` to be replayed the rest;
 *  - it applies replayed events, then lets `state_sync` replace the state wholesale;
 *  - it reports the link as "connected", "reconnecting" or "offline" (plus "denied" when the box
 *    refuses the session, e.g. after a reset), and marks the state "stale" whenever it was not
 *    confirmed by the box over the current connection (e.g. loaded from storage while unreachable).
 *
 * Usage:
 *   const stream = createStream({ storageKey: `student:${id}`, hello: "student_connect" });
 *   stream.onState((state, info) => render(state, info));      // {live, scheduled, ended}
 *   stream.onEvent((name, payload, info) => notify(name, payload, info));
 *   stream.onStatus((status, info) => badge(status));
 *   stream.on("student_count", (payload) => ...);               // presence events (no seq)
 *   stream.start();
 */
import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";

/** Events that carry a `seq` and change lecture state. */
export const SEQ_EVENTS = Object.freeze([
  "lecture_started",
  "lecture_scheduled",
  "lecture_ended",
  "lecture_cancelled",
  "lecture_duration_update",
  "lecture_progress_update",
  "section_updated", // a rename: no lecture state, but its seq must be processed like the others
]);

const STORAGE_PREFIX = "classroom-box:stream:";
const RECORD_VERSION = 1;
/** After this many failed attempts in a row (or when the OS says so) we call the link "offline". */
const OFFLINE_AFTER_FAILURES = 3;

/** An empty state, the shape `state_sync` and GET /api/lectures use. */
export function emptyState() {
  return { live: [], scheduled: [], ended: [] };
}

/** Normalise whatever the server or storage gave us into the state shape. */
function normaliseState(raw) {
  const src = raw && typeof raw === "object" ? raw : {};
  return {
    live: Array.isArray(src.live) ? src.live.slice() : [],
    scheduled: Array.isArray(src.scheduled) ? src.scheduled.slice() : [],
    ended: Array.isArray(src.ended) ? src.ended.slice() : [],
  };
}

function upsert(list, key, item) {
  if (!item || item[key] === undefined || item[key] === null) return list;
  const out = list.filter((x) => x[key] !== item[key]);
  out.push(item);
  return out;
}

function removeBy(list, key, value) {
  if (value === undefined || value === null) return list;
  return list.filter((x) => x[key] !== value);
}

/** Build a lecture object from an event payload when the server did not attach `lecture`. */
function lectureFrom(payload, existing) {
  if (payload.lecture && typeof payload.lecture === "object") return payload.lecture;
  const base = existing ? { ...existing } : {};
  for (const k of [
    "session_id", "class_id", "section_id", "subject", "title", "start_time", "end_time",
    "duration_minutes", "progress", "note", "summary", "schedule_id",
  ]) {
    if (payload[k] !== undefined) base[k] = payload[k];
  }
  return base;
}

/**
 * Apply one seq event to a state and return the new state. Pure: exported so tests and other
 * pages can reuse exactly the same reducer.
 */
export function applyEvent(state, name, payload) {
  const s = normaliseState(state);
  const p = payload || {};
  switch (name) {
    case "lecture_started": {
      const lecture = { status: "live", ...lectureFrom(p) };
      s.live = upsert(s.live, "session_id", lecture);
      if (lecture.schedule_id !== undefined && lecture.schedule_id !== null) {
        s.scheduled = removeBy(s.scheduled, "schedule_id", lecture.schedule_id);
      }
      break;
    }
    case "lecture_scheduled": {
      const schedule = p.schedule && typeof p.schedule === "object"
        ? p.schedule
        : { status: "pending", ...p };
      s.scheduled = upsert(s.scheduled, "schedule_id", schedule);
      break;
    }
    case "lecture_cancelled":
      s.scheduled = removeBy(s.scheduled, "schedule_id", p.schedule_id ?? p.schedule?.schedule_id);
      break;
    case "lecture_ended": {
      const existing = s.live.find((l) => l.session_id === p.session_id);
      const lecture = { ...lectureFrom(p, existing), status: "ended" };
      s.live = removeBy(s.live, "session_id", lecture.session_id);
      s.ended = upsert(s.ended, "session_id", lecture);
      break;
    }
    case "lecture_duration_update":
    case "lecture_progress_update": {
      const existing = s.live.find((l) => l.session_id === p.session_id);
      if (!existing && !p.lecture) break; // an update for a lecture we never saw: state_sync fixes it
      const lecture = lectureFrom(p, existing);
      if (lecture.status === "ended") {
        s.live = removeBy(s.live, "session_id", lecture.session_id);
        s.ended = upsert(s.ended, "session_id", lecture);
      } else {
        s.live = upsert(s.live, "session_id", lecture);
      }
      break;
    }
    default:
      break;
  }
  return s;
}

function readRecord(key) {
  try {
    const raw = window.localStorage.getItem(key);
    if (!raw) return null;
    const rec = JSON.parse(raw);
    if (!rec || rec.v !== RECORD_VERSION) return null;
    if (!Number.isSafeInteger(rec.last_seq) || rec.last_seq < 0) return null;
    return {
      lastSeq: rec.last_seq,
      rooms: normaliseRooms(rec.rooms),
      syncedAt: Number.isSafeInteger(rec.synced_at) ? rec.synced_at : rec.last_seq,
      state: normaliseState(rec.state),
      savedAt: rec.saved_at || null,
    };
  } catch {
    return null; // private mode, quota, corrupt JSON: start fresh rather than loop on errors
  }
}

/** {room: seq} with only integer seqs: what `state_sync.rooms` and storage may hold. */
function normaliseRooms(raw) {
  const out = {};
  if (!raw || typeof raw !== "object") return out;
  for (const [room, seq] of Object.entries(raw)) {
    if (Number.isSafeInteger(seq)) out[room] = seq;
  }
  return out;
}

function writeRecord(key, lastSeq, marks, state) {
  const savedAt = new Date().toISOString();
  try {
    window.localStorage.setItem(
      key,
      JSON.stringify({
        v: RECORD_VERSION, last_seq: lastSeq, rooms: marks.rooms, synced_at: marks.syncedAt,
        state, saved_at: savedAt,
      }),
    );
  } catch {
    /* storage full or disabled: live view still works, only reload-while-offline suffers */
  }
  return savedAt;
}

/** Forget the stored stream for a key (e.g. on logout or when the student switches class). */
export function clearStream(storageKey) {
  try {
    window.localStorage.removeItem(STORAGE_PREFIX + storageKey);
  } catch {
    /* ignore */
  }
}

/**
 * Create a stream. Nothing connects until start().
 * @param {object} opts
 * @param {string} opts.storageKey  per box/user key, e.g. "student:12" (the origin is the box)
 * @param {string} [opts.token]     bearer token; browsers normally rely on the cb_session cookie
 * @param {string} [opts.hello]     event to emit (with ack) after each connect, e.g. "student_connect"
 * @param {Function} [opts.ioFactory] for tests: replaces socket.io-client's io()
 */
export function createStream(opts) {
  const key = STORAGE_PREFIX + opts.storageKey;
  const stored = readRecord(key);
  let lastSeq = stored ? stored.lastSeq : null;
  let rooms = stored ? stored.rooms : {}; // room -> the last seq we have for it
  let syncedAt = stored ? stored.syncedAt : null; // the box-wide seq `rooms` was taken at
  let resumeFrom = null; // set by a gap: the next connect asks for a replay from here
  let healing = false; // a gap was seen: drop live events until the replay brings them
  let gaps = 0;
  let state = stored ? stored.state : emptyState();
  let savedAt = stored ? stored.savedAt : null;
  let fromCache = Boolean(stored);
  let synced = false; // state confirmed by a state_sync on the current connection
  let replaying = false; // between connect and state_sync: events are replays
  let status = "reconnecting";
  let failures = 0;
  let socket = null;

  const stateHandlers = [];
  const eventHandlers = [];
  const statusHandlers = [];
  const extraHandlers = [];

  const info = () => ({
    lastSeq,
    stale: !synced,
    fromCache,
    savedAt,
    replaying,
    status,
  });

  function emitState(reason) {
    const i = { ...info(), reason };
    for (const fn of stateHandlers) fn(state, i);
  }

  function setStatus(next, extra) {
    if (next === status && !extra) return;
    status = next;
    const i = { ...info(), ...(extra || {}) };
    for (const fn of statusHandlers) fn(status, i);
  }

  function persist() {
    if (lastSeq === null) return;
    savedAt = writeRecord(key, lastSeq, { rooms, syncedAt }, state);
  }

  /** The last seq we have for the event's room (events without a room: the box-wide one). */
  function markFor(payload) {
    if (typeof payload.room !== "string") return lastSeq ?? 0;
    return rooms[payload.room] ?? syncedAt ?? 0;
  }

  /** An event of this room never reached us: reconnect and be replayed everything after `mark`. */
  function heal(mark) {
    resumeFrom = resumeFrom === null ? mark : Math.min(resumeFrom, mark);
    if (healing) return;
    healing = true;
    gaps += 1;
    socket.disconnect();
    socket.connect();
  }

  function handleSeqEvent(name, payload) {
    if (!payload || !Number.isSafeInteger(payload.seq)) return; // malformed: ignore, sync repairs
    const mark = markFor(payload);
    if (payload.seq <= mark) return; // already processed: drop
    if (healing || (Number.isSafeInteger(payload.prev_seq) && payload.prev_seq > mark)) {
      heal(mark); // not applied: the replay brings it again, after the one we missed
      return;
    }
    state = applyEvent(state, name, payload);
    if (typeof payload.room === "string") rooms[payload.room] = payload.seq;
    lastSeq = Math.max(lastSeq ?? 0, payload.seq);
    persist();
    const i = { ...info(), replay: replaying };
    for (const fn of eventHandlers) fn(name, payload, i);
    emitState(name);
  }

  function handleStateSync(payload) {
    const p = payload || {};
    state = normaliseState(p);
    if (Number.isSafeInteger(p.seq) && p.seq >= 0) {
      // recovered:false means our last_seq was unusable (pruned, or a wiped box whose seq restarted):
      // adopt the box's seq as-is. recovered:true never moves us backwards.
      lastSeq = p.recovered === true && lastSeq !== null ? Math.max(lastSeq, p.seq) : p.seq;
      if (p.rooms && typeof p.rooms === "object") {
        rooms = normaliseRooms(p.rooms);
        syncedAt = p.seq;
      }
    }
    resumeFrom = null;
    replaying = false;
    synced = true;
    fromCache = false;
    persist();
    emitState("state_sync");
    setStatus("connected", { recovered: p.recovered === true });
  }

  function start() {
    if (socket) return api;
    const factory = opts.ioFactory || io;
    socket = factory({
      path: "/socket.io",
      transports: ["websocket", "polling"],
      withCredentials: true,
      // Called by socket.io-client on EVERY connection attempt: each retry sends the newest seq.
      auth: (cb) => {
        // A new connection starts here, before any of its packets: the replay and state_sync of
        // this connection may be delivered *before* the "connect" event (socket.io-client buffers
        // packets that arrive ahead of the CONNECT ack and flushes them first), so reset here.
        replaying = true;
        synced = false;
        healing = false; // events from here on belong to the new connection's replay
        const a = {};
        const position = resumeFrom ?? lastSeq;
        if (position !== null) a.last_seq = position;
        if (opts.token) a.token = opts.token;
        cb(a);
      },
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: 8000,
    });

    socket.on("connect", () => {
      failures = 0;
      if (opts.hello) {
        socket.timeout(5000).emit(opts.hello, {}, () => {
          /* ack or timeout: presence is best effort, the stream does not depend on it */
        });
      }
    });
    for (const name of SEQ_EVENTS) socket.on(name, (payload) => handleSeqEvent(name, payload));
    socket.on("state_sync", handleStateSync);
    for (const [name, fn] of extraHandlers) socket.on(name, fn);

    socket.on("disconnect", (reason) => {
      replaying = false;
      // In step with the box until now: the offline banner's time is this moment, not the
      // time of the last event (a quiet hour is not an hour out of date).
      if (synced) persist();
      synced = false;
      emitState("disconnect");
      if (reason === "io server disconnect") {
        // The server closed us on purpose (e.g. session revoked): socket.io will not retry itself.
        setStatus("denied", { reason });
        return;
      }
      setStatus(navigator.onLine === false ? "offline" : "reconnecting", { reason });
    });
    socket.on("connect_error", (err) => {
      failures += 1;
      if (!socket.active) {
        // Refused by the server's connect handler (no/expired session): not a network problem.
        setStatus("denied", { reason: err && err.message });
        return;
      }
      const offline = navigator.onLine === false || failures >= OFFLINE_AFTER_FAILURES;
      setStatus(offline ? "offline" : "reconnecting", { reason: err && err.message, failures });
    });
    window.addEventListener("offline", () => {
      if (status !== "connected") setStatus("offline");
    });
    window.addEventListener("online", () => {
      // The OS says the network is back: retry now instead of waiting out the backoff.
      if (socket && !socket.connected && socket.active) {
        socket.disconnect();
        socket.connect();
      }
    });
    window.addEventListener("pagehide", () => {
      if (synced) persist(); // a reload or a closed tab: in step with the box until now
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && socket && !socket.connected && socket.active) {
        socket.disconnect();
        socket.connect();
      }
    });
    return api;
  }

  const api = {
    start,
    /** Current state {live, scheduled, ended} (a fresh copy). */
    get state() {
      return normaliseState(state);
    },
    get lastSeq() {
      return lastSeq;
    },
    /** How many lost events this stream noticed (each healed by a replay). */
    get gaps() {
      return gaps;
    },
    get status() {
      return status;
    },
    get stale() {
      return !synced;
    },
    get savedAt() {
      return savedAt;
    },
    /** fn(state, info) on every change; called at once with the cached state if there is one. */
    onState(fn) {
      stateHandlers.push(fn);
      fn(normaliseState(state), { ...info(), reason: "initial" });
      return api;
    },
    /** fn(name, payload, info) for each new seq event, after it was applied; info.replay says replay. */
    onEvent(fn) {
      eventHandlers.push(fn);
      return api;
    },
    /** fn(status, info) on connected / reconnecting / offline / denied. Called at once. */
    onStatus(fn) {
      statusHandlers.push(fn);
      fn(status, info());
      return api;
    },
    /** Subscribe to a non-seq event such as `student_count` (presence; never persisted). */
    on(name, fn) {
      extraHandlers.push([name, fn]);
      if (socket) socket.on(name, fn);
      return api;
    },
    /** Emit with an ack; resolves with the ack payload or rejects on timeout/ok:false. */
    request(name, data, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        if (!socket) {
          reject(new Error("stream not started"));
          return;
        }
        socket.timeout(timeoutMs).emit(name, data || {}, (err, ack) => {
          if (err) reject(err);
          else if (ack && ack.ok === false) reject(new Error(ack.error || "request refused"));
          else resolve(ack);
        });
      });
    },
    /** Stop for good (logout). Keeps the stored record unless forget is true. */
    close(forget = false) {
      if (socket) socket.disconnect();
      socket = null;
      if (forget) clearStream(opts.storageKey);
    },
  };
  return api;
}
