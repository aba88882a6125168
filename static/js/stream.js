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
  const position = createStreamState(opts.storageKey);
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
    lastSeq: position.lastSeq,
    stale: !synced,
    fromCache: position.fromCache,
    savedAt: position.savedAt,
    replaying,
    status,
  });

  function emitState(reason) {
    const i = { ...info(), reason };
    for (const fn of stateHandlers) fn(position.state, i);
  }

  function setStatus(next, extra) {
    if (next === status && !extra) return;
    status = next;
    const i = { ...info(), ...(extra || {}) };
    for (const fn of statusHandlers) fn(status, i);
  }

  function handleSeqEvent(name, payload) {
    const outcome = position.accept(name, payload);
    if (outcome === "gap") {
      // An event of this room never reached us: reconnect, the replay brings it and the rest.
      socket.disconnect();
      socket.connect();
    }
    if (outcome !== "applied") return;
    const i = { ...info(), replay: replaying };
    for (const fn of eventHandlers) fn(name, payload, i);
    emitState(name);
  }

  function handleStateSync(payload) {
    const recovered = position.sync(payload);
    replaying = false;
    synced = true;
    emitState("state_sync");
    setStatus("connected", { recovered });
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
        const a = {};
        const from = position.resumePosition(); // events from here on are its replay
        if (from !== null) a.last_seq = from;
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
      if (synced) position.markInStep();
      synced = false;
      emitState("disconnect");
      if (reason === "io server disconnect") {
        // The server closed us on purpose (e.g. login revoked): socket.io will not retry itself.
        setStatus("denied", { reason });
        return;
      }
      setStatus(navigator.onLine === false ? "offline" : "reconnecting", { reason });
    });
    socket.on("connect_error", (err) => {
      failures += 1;
      if (!socket.active) {
        // Refused by the server's connect handler (no/expired login): not a network problem.
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
      if (synced) position.markInStep(); // a reload or a closed tab: in step with the box until now
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
      return normaliseState(position.state);
    },
    get lastSeq() {
      return position.lastSeq;
    },
    /** How many lost events this stream noticed (each healed by a replay). */
    get gaps() {
      return position.gaps;
    },
    get status() {
      return status;
    },
    get stale() {
      return !synced;
    },
    get savedAt() {
      return position.savedAt;
    },
    /** fn(state, info) on every change; called at once with the cached state if there is one. */
    onState(fn) {
      stateHandlers.push(fn);
      fn(normaliseState(position.state), { ...info(), reason: "initial" });
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
