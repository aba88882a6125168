/**
 * stream-state.js — the event stream's state and where it stands, kept in the browser.
 *
 * Owns the lecture state {live, scheduled, ended}, `last_seq`, the per-room marks that reveal a
 * lost event (`prev_seq`), and the ONE localStorage record holding them together, so the position
 * and the state it describes can never disagree after a reload. It must never touch the network:
 * stream.js wires it to socket.io-client and acts on what `accept()` says.
 */
// Generated from the box's own list (scripts/gen-event-types): names and fields in one place.
import { applyAnswerEvent, keepAnswerState } from "/static/js/answers-state.js";
import { LECTURE_FIELDS } from "/static/js/event_types.js";

const STORAGE_PREFIX = "classroom-box:stream:";
const RECORD_VERSION = 1;

/** An empty state, the shape `state_sync` and GET /api/lectures use. */
export function emptyState() {
  return { live: [], scheduled: [], ended: [] };
}

/** Normalise whatever the server or storage gave us into the state shape. */
export function normaliseState(raw) {
  const src = raw && typeof raw === "object" ? raw : {};
  return keepAnswerState(src, {
    live: Array.isArray(src.live) ? src.live.slice() : [],
    scheduled: Array.isArray(src.scheduled) ? src.scheduled.slice() : [],
    ended: Array.isArray(src.ended) ? src.ended.slice() : [],
  });
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
  for (const k of LECTURE_FIELDS) {
    if (payload[k] !== undefined) base[k] = payload[k];
  }
  return base;
}

/**
 * Apply one seq event to a state and return the new state. Pure: exported so tests and other
 * pages can reuse exactly the same reducer.
 */
export function applyEvent(state, name, payload) {
  const s = applyAnswerEvent(normaliseState(state), name, payload || {});
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
 * The position in the stream and the state it describes, kept together in one stored record.
 * Pure bookkeeping: it says what to do with each event, the caller (stream.js) does the network.
 * @param {string} storageKey per box/user key, e.g. "student:12"
 */
export function createStreamState(storageKey) {
  const key = STORAGE_PREFIX + storageKey;
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

  function persist() {
    if (lastSeq === null) return;
    savedAt = writeRecord(key, lastSeq, { rooms, syncedAt }, state);
  }

  /** The last seq we have for the event's room (events without a room: the box-wide one). */
  function markFor(payload) {
    if (typeof payload.room !== "string") return lastSeq ?? 0;
    return rooms[payload.room] ?? syncedAt ?? 0;
  }

  return {
    get lastSeq() {
      return lastSeq;
    },
    get state() {
      return state;
    },
    get savedAt() {
      return savedAt;
    },
    get fromCache() {
      return fromCache;
    },
    /** We are in step with the box until now: the offline banner's time is this moment. */
    markInStep() {
      persist();
    },
    /** How many lost events were noticed (each healed by a replay). */
    get gaps() {
      return gaps;
    },
    /**
     * One seq event: "applied" (state and position moved, stored), "drop" (already had it, or
     * a replay is on its way), or "gap": an event of its room never arrived, so the caller must
     * reconnect; the next `resumePosition()` asks for everything after the last one we have.
     */
    accept(name, payload) {
      if (!payload || !Number.isSafeInteger(payload.seq)) return "drop"; // malformed: sync repairs
      const mark = markFor(payload);
      if (payload.seq <= mark) return "drop"; // already processed
      if (healing || (Number.isSafeInteger(payload.prev_seq) && payload.prev_seq > mark)) {
        // not applied: the replay brings it again, after the one we missed
        resumeFrom = resumeFrom === null ? mark : Math.min(resumeFrom, mark);
        if (healing) return "drop";
        healing = true;
        gaps += 1;
        return "gap";
      }
      state = applyEvent(state, name, payload);
      if (typeof payload.room === "string") rooms[payload.room] = payload.seq;
      lastSeq = Math.max(lastSeq ?? 0, payload.seq);
      persist();
      return "applied";
    },
    /** `state_sync` replaces the state wholesale; returns whether the box recovered our position. */
    sync(payload) {
      const p = payload || {};
      state = normaliseState(p);
      if (Number.isSafeInteger(p.seq) && p.seq >= 0) {
        // recovered:false means our last_seq was unusable (pruned, or a wiped box whose seq
        // restarted): adopt the box's seq as-is. recovered:true never moves us backwards.
        lastSeq = p.recovered === true && lastSeq !== null ? Math.max(lastSeq, p.seq) : p.seq;
        if (p.rooms && typeof p.rooms === "object") {
          rooms = normaliseRooms(p.rooms);
          syncedAt = p.seq;
        }
      }
      resumeFrom = null;
      fromCache = false;
      persist();
      return p.recovered === true;
    },
    /** At each connection attempt: the `last_seq` to send; events from here on are its replay. */
    resumePosition() {
      healing = false;
      return resumeFrom ?? lastSeq;
    },
  };
}
