/**
 * stream.js — the documented way for a page to consume the classroom-box event stream.
 *
 * This module is the socket wiring; the state, the position and their storage are
 * stream-state.js (`createStreamState`), which never touches the network.
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
 *    refuses the login, e.g. after a reset), and marks the state "stale" whenever it was not
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
// Generated from classroom_box/domain/event_types.py: the box's own list of names.
import { SEQ_EVENTS } from "/static/js/event_types.js";
import { clearStream, createStreamState, normaliseState } from "/static/js/stream-state.js";

export { SEQ_EVENTS };
export { applyEvent, clearStream, emptyState } from "/static/js/stream-state.js";

/** After this many failed attempts in a row (or when the OS says so) we call the link "offline". */
const OFFLINE_AFTER_FAILURES = 3;

/**
 * Create a stream. Nothing connects until start().
 * @param {object} opts
 * @param {string} opts.storageKey  per box/user key, e.g. "student:12" (the origin is the box)
 * @param {string} [opts.token]     bearer token; browsers normally rely on the login cookie (cb_session)
 * @param {string} [opts.hello]     event to emit (with ack) after each connect, e.g. "student_connect"
 * @param {Function} [opts.ioFactory] for tests: replaces socket.io-client's io()
 */
export function createStream(opts) {
  /** One stream's record: everything below reads and changes only this. */
  const s = {
    opts,
    position: createStreamState(opts.storageKey),
    synced: false, // state confirmed by a state_sync on the current connection
    replaying: false, // between connect and state_sync: events are replays
    status: "reconnecting",
    failures: 0,
    socket: null,
    stateHandlers: [],
    eventHandlers: [],
    statusHandlers: [],
    extraHandlers: [],
  };
  return publicApi(s);
}

function info(s) {
  return {
    lastSeq: s.position.lastSeq,
    stale: !s.synced,
    fromCache: s.position.fromCache,
    savedAt: s.position.savedAt,
    replaying: s.replaying,
    status: s.status,
  };
}

function emitState(s, reason) {
  const i = { ...info(s), reason };
  for (const fn of s.stateHandlers) fn(s.position.state, i);
}

function setStatus(s, next, extra) {
  if (next === s.status && !extra) return;
  s.status = next;
  const i = { ...info(s), ...(extra || {}) };
  for (const fn of s.statusHandlers) fn(s.status, i);
}

/** Drop the connection and open a new one at once (its replay brings what we miss). */
function reconnectNow(socket) {
  socket.disconnect();
  socket.connect();
}

function handleSeqEvent(s, name, payload) {
  const outcome = s.position.accept(name, payload);
  if (outcome === "gap") {
    // An event of this room never reached us: reconnect, the replay brings it and the rest.
    reconnectNow(s.socket);
  }
  if (outcome !== "applied") return;
  const i = { ...info(s), replay: s.replaying };
  for (const fn of s.eventHandlers) fn(name, payload, i);
  emitState(s, name);
}

function handleStateSync(s, payload) {
  const recovered = s.position.sync(payload);
  s.replaying = false;
  s.synced = true;
  emitState(s, "state_sync");
  setStatus(s, "connected", { recovered });
}

/** socket.io-client's options; `auth` is what hands the newest `last_seq` to every attempt. */
function socketOptions(s) {
  return {
    path: "/socket.io",
    transports: ["websocket", "polling"],
    withCredentials: true,
    // Called by socket.io-client on EVERY connection attempt: each retry sends the newest seq.
    auth: (cb) => {
      // A new connection starts here, before any of its packets: the replay and state_sync of
      // this connection may be delivered *before* the "connect" event (socket.io-client buffers
      // packets that arrive ahead of the CONNECT ack and flushes them first), so reset here.
      s.replaying = true;
      s.synced = false;
      const a = {};
      const from = s.position.resumePosition(); // events from here on are its replay
      if (from !== null) a.last_seq = from;
      if (s.opts.token) a.token = s.opts.token;
      cb(a);
    },
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
    timeout: 8000,
  };
}

function onDisconnect(s, reason) {
  s.replaying = false;
  // In step with the box until now: the offline banner's time is this moment, not the
  // time of the last event (a quiet hour is not an hour out of date).
  if (s.synced) s.position.markInStep();
  s.synced = false;
  emitState(s, "disconnect");
  if (reason === "io server disconnect") {
    // The server closed us on purpose (e.g. login revoked): socket.io will not retry itself.
    setStatus(s, "denied", { reason });
    return;
  }
  setStatus(s, navigator.onLine === false ? "offline" : "reconnecting", { reason });
}

function onConnectError(s, err) {
  s.failures += 1;
  if (!s.socket.active) {
    // Refused by the server's connect handler (no/expired login): not a network problem.
    setStatus(s, "denied", { reason: err && err.message });
    return;
  }
  const offline = navigator.onLine === false || s.failures >= OFFLINE_AFTER_FAILURES;
  setStatus(s, offline ? "offline" : "reconnecting", { reason: err && err.message, failures: s.failures });
}

/** The socket's own events: the hello, the seq events, state_sync, the extras, the link's ups and downs. */
function wireSocket(s) {
  const socket = s.socket;
  socket.on("connect", () => {
    s.failures = 0;
    if (s.opts.hello) {
      s.socket.timeout(5000).emit(s.opts.hello, {}, () => {
        /* ack or timeout: presence is best effort, the stream does not depend on it */
      });
    }
  });
  for (const name of SEQ_EVENTS) socket.on(name, (payload) => handleSeqEvent(s, name, payload));
  socket.on("state_sync", (payload) => handleStateSync(s, payload));
  for (const [name, fn] of s.extraHandlers) socket.on(name, fn);
  socket.on("disconnect", (reason) => onDisconnect(s, reason));
  socket.on("connect_error", (err) => onConnectError(s, err));
}

/** What the browser tells us: the OS's online/offline, a page being left, a tab shown again. */
function wireWindow(s) {
  window.addEventListener("offline", () => {
    if (s.status !== "connected") setStatus(s, "offline");
  });
  window.addEventListener("online", () => {
    // The OS says the network is back: retry now instead of waiting out the backoff.
    if (s.socket && !s.socket.connected && s.socket.active) reconnectNow(s.socket);
  });
  window.addEventListener("pagehide", () => {
    if (s.synced) s.position.markInStep(); // a reload or a closed tab: in step with the box until now
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && s.socket && !s.socket.connected && s.socket.active) {
      reconnectNow(s.socket);
    }
  });
}

function startStream(s) {
  if (s.socket) return;
  const factory = s.opts.ioFactory || io;
  s.socket = factory(socketOptions(s));
  wireSocket(s);
  wireWindow(s);
}

/** The promise behind `request`: a socket.io ack, or its timeout, or the box's `ok: false`. */
function emitWithAck(s, name, data, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (!s.socket) {
      reject(new Error("stream not started"));
      return;
    }
    s.socket.timeout(timeoutMs).emit(name, data || {}, (err, ack) => {
      if (err) reject(err);
      else if (ack && ack.ok === false) reject(refusal(ack.error));
      else resolve(ack);
    });
  });
}

/** An Error with the box's `code` (the answer-back events ack `{code, message}` like HTTP). */
function refusal(error) {
  const e = error && typeof error === "object" ? error : { message: error };
  return Object.assign(new Error(e.message || "request refused"), { code: e.code || "refused" });
}

/** What a page holds: getters and subscriptions over the stream's record `s`. */
function publicApi(s) {
  const api = {
    start() {
      startStream(s);
      return api;
    },
    /** Current state {live, scheduled, ended} (a fresh copy). */
    get state() {
      return normaliseState(s.position.state);
    },
    get lastSeq() {
      return s.position.lastSeq;
    },
    /** How many lost events this stream noticed (each healed by a replay). */
    get gaps() {
      return s.position.gaps;
    },
    get status() {
      return s.status;
    },
    get stale() {
      return !s.synced;
    },
    /** The socket is up now: an emit goes out at once instead of waiting in socket.io's buffer. */
    get connected() {
      return Boolean(s.socket && s.socket.connected);
    },
    get savedAt() {
      return s.position.savedAt;
    },
    /** fn(state, info) on every change; called at once with the cached state if there is one. */
    onState(fn) {
      s.stateHandlers.push(fn);
      fn(normaliseState(s.position.state), { ...info(s), reason: "initial" });
      return api;
    },
    /** fn(name, payload, info) for each new seq event, after it was applied; info.replay says replay. */
    onEvent(fn) {
      s.eventHandlers.push(fn);
      return api;
    },
    /** fn(status, info) on connected / reconnecting / offline / denied. Called at once. */
    onStatus(fn) {
      s.statusHandlers.push(fn);
      fn(s.status, info(s));
      return api;
    },
    /** Subscribe to a non-seq event such as `student_count` (presence; never persisted). */
    on(name, fn) {
      s.extraHandlers.push([name, fn]);
      if (s.socket) s.socket.on(name, fn);
      return api;
    },
    /** Emit with an ack; resolves with the ack payload, rejects on timeout or with the box's
     * refusal (`err.code`) on ok:false. */
    request(name, data, timeoutMs = 5000) {
      return emitWithAck(s, name, data, timeoutMs);
    },
    /** Stop for good (logout). Keeps the stored record unless forget is true. */
    close(forget = false) {
      if (s.socket) s.socket.disconnect();
      s.socket = null;
      if (forget) clearStream(s.opts.storageKey);
    },
  };
  return api;
}
