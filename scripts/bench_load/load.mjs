// Load generator for scripts/bench: N Socket.IO students AND the teacher's HTTP triggers in one
// process, so every latency is (receipt time - send time) read from one monotonic clock
// (performance.now()). It uses the official socket.io-client, websocket transport only, which also
// proves a non-Python client works against the box.
//
// Driven by scripts/bench over stdin/stdout, one JSON object per line:
//   argv[2]: path of a JSON config (see Config below)
//   stdin:   {"cmd": "fanout"} | {"cmd": "storm"} | {"cmd": "soak"} | {"cmd": "leave"} | {"cmd": "quit"}
//   stdout:  {"event": "connected" | "fanout" | "storm" | "soak_warm" | "soak" | "left" | "bye" |
//             "error", ...figures}
// The orchestrator samples the server's RSS and CPU between these steps, so the steps wait for it.
//
// Config: {url, mode: "box"|"peer", n, m, interval_s, class_id, section_id, session_id,
//          tokens?: [student tokens] (box), teacher_token?: string (box),
//          connect_concurrency, drain_timeout_s, storm_changes, storm_timeout_s,
//          soak_s, soak_warm_s, soak_min_s, soak_max_s, soak_event_s}

import { readFileSync } from "node:fs";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import readline from "node:readline";
import { io } from "socket.io-client";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const isBox = config.mode === "box";

/** Print one JSON line for the orchestrator (stdout is reserved for these). */
function report(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

/** Nearest-rank percentile of a sorted array; null when empty. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

const round3 = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- students -------------------------------------------------------------------------------

/** One simulated student: its socket, the highest seq it processed, and a per-phase receipt hook. */
class Student {
  constructor(index) {
    this.index = index;
    this.socket = null;
    this.lastSeq = 0;
    this.onEvent = null; // (payload, receivedAt) => void, set per phase
    this.onSync = null; // (payload, receivedAt) => void, set per phase
    this.unexpectedDisconnects = 0;
  }

  /** Open a fresh connection (forceNew: one engine.io connection per student, like one phone). */
  connect() {
    const auth = isBox ? { token: config.tokens[this.index] } : undefined;
    if (isBox && this.lastSeq > 0) auth.last_seq = this.lastSeq;
    const socket = io(config.url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: 60000,
      auth,
    });
    this.socket = socket;
    socket.on("lecture_progress_update", (payload) => {
      const now = performance.now();
      if (typeof payload.seq === "number" && payload.seq > this.lastSeq) this.lastSeq = payload.seq;
      if (this.onEvent) this.onEvent(payload, now);
    });
    socket.on("state_sync", (payload) => {
      const now = performance.now();
      if (typeof payload.seq === "number" && payload.seq > this.lastSeq) this.lastSeq = payload.seq;
      if (this.onSync) this.onSync(payload, now);
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") this.unexpectedDisconnects += 1;
    });
    return socket;
  }

  /** Resolve once the student is in its room: box = state_sync arrived; peer = join acked. */
  ready(timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`student ${this.index}: not ready`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(new Error(`student ${this.index}: connect_error ${err.message}`));
      });
      if (isBox) {
        this.onSync = () => {
          this.onSync = null;
          done();
        };
      } else {
        this.socket.once("connect", async () => {
          try {
            const ack = await this.socket
              .timeout(timeoutMs)
              .emitWithAck("join_classroom", { class_id: config.class_id, section_id: config.section_id });
            if (!ack || ack.ok !== true) throw new Error(`join_classroom refused: ${JSON.stringify(ack)}`);
            done();
          } catch (err) {
            clearTimeout(timer);
            reject(err);
          }
        });
      }
    });
  }
}

const students = Array.from({ length: config.n }, (_, i) => new Student(i));

/** Connect every student with at most `limit` handshakes in flight (null: all at once). */
async function connectAll(limit) {
  let next = 0;
  const worker = async () => {
    while (next < students.length) {
      const student = students[next++];
      student.connect();
      await student.ready(60000);
    }
  };
  const workers = Math.min(limit || students.length, students.length);
  await Promise.all(Array.from({ length: workers }, worker));
}

// ---- the teacher's triggers ----------------------------------------------------------------

const triggerUrl = new URL("/api/lecture/progress", config.url).toString();
const headers = { "content-type": "application/json" };
if (isBox) headers.authorization = `Bearer ${config.teacher_token}`;

/** Send one progress update; resolves to the HTTP status (throws on network error). */
async function sendProgress(progress, note) {
  const body = isBox
    ? { session_id: config.session_id, progress, note }
    : { class_id: config.class_id, section_id: config.section_id, session_id: config.session_id, progress, note };
  const response = await fetch(triggerUrl, { method: "POST", headers, body: JSON.stringify(body) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`POST /api/lecture/progress -> ${response.status}`);
  return response.status;
}

/** Wait until check() is true or the deadline passes; polling keeps the receipt path untouched. */
async function waitUntil(check, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!check() && performance.now() < deadline) await sleep(5);
  return check();
}

// ---- scenarios -----------------------------------------------------------------------------

const LOOP_RESOLUTION_MS = 2;

/**
 * Phase cost on this process: CPU seconds, wall seconds and event-loop lag while it ran. The lag
 * (how late a 2 ms timer fired) bounds what this client adds to a receipt time.
 */
function startMeter() {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  return () => {
    loop.disable();
    const cpu = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    const cpuS = (cpu.user + cpu.system) / 1e6;
    return {
      client_cpu_s: round3(cpuS),
      client_wall_s: round3(wall),
      client_cpu_pct: round3((100 * cpuS) / wall),
      // the histogram holds whole timer intervals, so the resolution itself is taken off
      client_loop_lag_p99_ms: round3(Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS)),
      client_loop_lag_max_ms: round3(Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS)),
    };
  };
}

/** Fan-out: M triggers on a fixed schedule (open loop), every (event, student) latency recorded. */
async function fanout() {
  const { n, m } = config;
  const latency = new Float64Array(n * m).fill(NaN);
  const sentAt = new Float64Array(m).fill(NaN);
  let received = 0;
  let duplicates = 0;
  let foreign = 0;
  for (const student of students) {
    student.onEvent = (payload, now) => {
      const note = typeof payload.note === "string" ? payload.note : "";
      const i = note.startsWith("f:") ? Number(note.slice(2)) : -1;
      if (!(i >= 0 && i < m) || Number.isNaN(sentAt[i])) {
        foreign += 1;
        return;
      }
      const slot = student.index * m + i;
      if (!Number.isNaN(latency[slot])) {
        duplicates += 1;
        return;
      }
      latency[slot] = now - sentAt[i];
      received += 1;
    };
  }
  await fetch(new URL("/healthz", config.url)).then((r) => r.arrayBuffer()); // warm the HTTP pool
  const meter = startMeter();
  const t0 = performance.now();
  const requests = [];
  let httpErrors = 0;
  for (let i = 0; i < m; i++) {
    const due = t0 + i * config.interval_s * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt[i] = performance.now();
    requests.push(sendProgress(i % 101, `f:${i}`).catch((err) => {
      httpErrors += 1;
      process.stderr.write(`trigger ${i}: ${err.message}\n`);
    }));
  }
  await Promise.all(requests);
  await waitUntil(() => received === n * m, config.drain_timeout_s * 1000);
  const cost = meter();
  for (const student of students) student.onEvent = null;
  const values = Array.from(latency).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  report("fanout", {
    p50_ms: round3(percentile(values, 0.5)),
    p99_ms: round3(percentile(values, 0.99)),
    max_ms: round3(values.length ? values[values.length - 1] : null),
    received,
    lost: n * m - received,
    duplicates,
    foreign_events: foreign,
    http_errors: httpErrors,
    ...cost,
  });
}

/**
 * Reconnect storm (box only): everyone drops, the teacher makes K changes, everyone comes back at
 * once with last_seq. Done when every student has replayed all K and then got state_sync.
 */
async function storm() {
  const k = config.storm_changes;
  const replayed = students.map(() => new Uint8Array(k));
  const synced = new Uint8Array(students.length);
  let duplicates = 0;
  let afterSync = 0;
  let notRecovered = 0;
  let complete = 0;
  let doneAt = null;
  let t0 = 0;

  await Promise.all(students.map((s) => new Promise((resolve) => {
    if (!s.socket.connected) return resolve();
    s.socket.once("disconnect", () => resolve());
    s.socket.disconnect();
  })));
  for (let i = 0; i < k; i++) await sendProgress((i * 7) % 101, `s:${i}`);

  const allReplayed = (index) => replayed[index].every((x) => x === 1);
  for (const student of students) {
    const index = student.index;
    student.onEvent = (payload) => {
      const note = typeof payload.note === "string" ? payload.note : "";
      if (!note.startsWith("s:")) return;
      const i = Number(note.slice(2));
      if (synced[index]) afterSync += 1;
      if (replayed[index][i]) duplicates += 1;
      replayed[index][i] = 1;
    };
    student.onSync = (payload, now) => {
      if (synced[index]) return;
      synced[index] = 1;
      if (payload.recovered !== true) notRecovered += 1;
      if (allReplayed(index)) {
        complete += 1;
        if (complete === students.length) doneAt = now;
      }
    };
  }
  const meter = startMeter();
  t0 = performance.now();
  let connectErrors = 0;
  for (const student of students) {
    student.connect().once("connect_error", () => (connectErrors += 1));
  }
  await waitUntil(() => complete === students.length, config.storm_timeout_s * 1000);
  await sleep(200); // let a late duplicate show itself
  const cost = meter();
  let lost = 0;
  for (const marks of replayed) for (const x of marks) if (!x) lost += 1;
  report("storm", {
    storm_changes: k,
    storm_s: doneAt === null ? null : round3((doneAt - t0) / 1000),
    storm_caught_up: complete === students.length,
    storm_students_complete: complete,
    storm_lost: lost,
    storm_duplicates: duplicates,
    storm_events_after_sync: afterSync,
    storm_not_recovered: notRecovered,
    storm_connect_errors: connectErrors,
    ...Object.fromEntries(Object.entries(cost).map(([key, v]) => [`storm_${key}`, v])),
  });
}

/**
 * A long day (box only): every student stays connected for a random 3-7 s, drops, and comes
 * back with last_seq, for soak_s seconds, while the teacher posts an update every soak_event_s.
 * After soak_warm_s a "soak_warm" line lets the orchestrator take its warm RSS sample. At the
 * end everyone reconnects once more; a student must have seen every update exactly once.
 */
async function soak() {
  const seen = students.map(() => new Map());
  const acked = new Set(); // a failed POST may or may not have committed: only 2xx count
  let sent = 0;
  let httpErrors = 0;
  let connects = 0;
  let connectErrors = 0;
  for (const student of students) {
    student.onEvent = (payload) => {
      const note = typeof payload.note === "string" ? payload.note : "";
      if (!note.startsWith("k:")) return;
      const marks = seen[student.index];
      marks.set(note, (marks.get(note) || 0) + 1);
    };
  }
  const t0 = performance.now();
  const end = t0 + config.soak_s * 1000;
  const rand = (a, b) => (a + Math.random() * (b - a)) * 1000;
  const cycle = async (student) => {
    while (performance.now() < end) {
      await sleep(Math.min(rand(config.soak_min_s, config.soak_max_s), Math.max(0, end - performance.now())));
      await new Promise((resolve) => {
        if (!student.socket.connected) return resolve();
        student.socket.once("disconnect", () => resolve());
        student.socket.disconnect();
      });
      for (let attempt = 0; ; attempt++) {
        student.connect();
        try {
          await student.ready(60000);
          connects += 1;
          break;
        } catch {
          connectErrors += 1;
          student.socket.disconnect();
          if (attempt > 10) throw new Error(`student ${student.index} cannot reconnect`);
          await sleep(1000);
        }
      }
    }
  };
  const teacher = (async () => {
    while (performance.now() < end) {
      const note = `k:${sent}`;
      sent += 1;
      try {
        await sendProgress(sent % 101, note);
        acked.add(note);
      } catch (err) {
        httpErrors += 1;
        process.stderr.write(`soak trigger ${note}: ${err.message}\n`);
      }
      await sleep(config.soak_event_s * 1000);
    }
  })();
  let warmReported = false;
  const warm = (async () => {
    await sleep(config.soak_warm_s * 1000);
    report("soak_warm", { soak_connects: connects, soak_events_sent: acked.size });
    warmReported = true;
  })();
  await Promise.all([...students.map(cycle), teacher, warm]);
  if (!warmReported) await warm;
  const hasAll = (marks) => [...acked].every((note) => marks.has(note));
  const complete = () => seen.every(hasAll);
  await waitUntil(complete, config.drain_timeout_s * 1000);
  let lost = 0;
  let duplicates = 0;
  for (const marks of seen) {
    for (const note of acked) if (!marks.has(note)) lost += 1;
    for (const count of marks.values()) duplicates += count - 1;
  }
  for (const student of students) student.onEvent = null;
  report("soak", {
    soak_s: round3((performance.now() - t0) / 1000),
    soak_connects: connects,
    soak_connect_errors: connectErrors,
    soak_events_sent: acked.size,
    soak_http_errors: httpErrors,
    soak_lost: lost,
    soak_duplicates: duplicates,
  });
}

/** Everyone leaves: the orchestrator then checks the box gave its memory and descriptors back. */
async function leave() {
  await Promise.all(students.map((s) => new Promise((resolve) => {
    if (!s.socket || !s.socket.connected) return resolve();
    s.socket.once("disconnect", () => resolve());
    s.socket.disconnect();
  })));
  report("left", {});
}

// ---- main loop -----------------------------------------------------------------------------

async function main() {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await connectAll(config.connect_concurrency);
  } catch (err) {
    report("error", { message: `connect: ${err.message}` });
    process.exit(1);
  }
  report("connected", { connect_s: round3((performance.now() - t0) / 1000) });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const { cmd } = JSON.parse(line);
    try {
      if (cmd === "fanout") await fanout();
      else if (cmd === "storm") await storm();
      else if (cmd === "soak") await soak();
      else if (cmd === "leave") await leave();
      else if (cmd === "quit") break;
      else report("error", { message: `unknown command ${cmd}` });
    } catch (err) {
      report("error", { message: `${cmd}: ${err.stack || err.message}` });
    }
  }
  const cpu = process.cpuUsage(cpu0);
  report("bye", {
    client_total_cpu_s: round3((cpu.user + cpu.system) / 1e6),
    client_total_wall_s: round3((performance.now() - t0) / 1000),
    unexpected_disconnects: students.reduce((sum, s) => sum + s.unexpectedDisconnects, 0),
  });
  for (const student of students) student.socket?.disconnect();
  process.exit(0);
}

main();
