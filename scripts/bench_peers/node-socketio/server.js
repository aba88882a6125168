// Benchmark peer: the classroom broadcast job on Node's reference Socket.IO server, in memory.
// Contract: scripts/bench_peers/README.md.
const http = require("http");
const { Server } = require("socket.io");

const portFlag = process.argv.indexOf("--port");
const port = portFlag > 0 ? Number(process.argv[portFlag + 1]) : 9101;
let seq = 0;

function reply(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function progress(req, res) {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      return reply(res, 400, { ok: false });
    }
    seq += 1;
    const room = `classroom:${data.class_id}:${data.section_id}`;
    io.to(room).emit("lecture_progress_update", { ...data, seq });
    reply(res, 200, { ok: true, seq });
  });
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") return reply(res, 200, { status: "ok" });
  if (req.method === "POST" && req.url === "/api/lecture/progress") return progress(req, res);
  reply(res, 404, {});
});

const io = new Server(httpServer, { cors: { origin: "*" } });
io.on("connection", (socket) => {
  socket.on("join_classroom", (data, ack) => {
    socket.join(`classroom:${data.class_id}:${data.section_id}`);
    if (typeof ack === "function") ack({ ok: true });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log(`node socket.io peer on ${port}`));
