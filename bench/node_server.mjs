// The Node baseline: socket.io 4.8 speaking the bare relay's /chat protocol (bench/relay.py), no auth, no storage.
//
//   node [--expose-gc] bench/node_server.mjs --port P        (or PORT=P)
//
// `join` {feedback_id} enters the room and answers as the relay does; `send` numbers the message per room, emits
// `message` to the room, then answers with it. Websocket transport only, permessage-deflate off, the relay's ping
// and packet-size settings. GET /readyz answers 200 once listening (bench/common.py's launch polls it). With
// --expose-gc, SIGUSR2 runs a full collection (bench/idle_memory.py sends it before reading the RSS).

import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { Server } from "socket.io";

// The relay's settings (roughcut/realtime/server.py): MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT.
const MAX_MESSAGE = 64 * 1024;
const PING_INTERVAL_MS = 25_000;
const PING_TIMEOUT_MS = 20_000;
const AUTHOR = { id: 0, nickname: "relay" };

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "8091" },
  },
});

const bad = (message) => ({ ok: false, error: { code: "validation_failed", message } });
const feedbackId = (data) => (Number.isInteger(data?.feedback_id) ? data.feedback_id : undefined);

const http = createServer((req, res) => {
  // socket.io answers its own path; everything else lands here.
  const ready = req.url === "/readyz";
  res.writeHead(ready ? 200 : 404, { "content-type": "application/json" });
  res.end(ready ? '{"status":"ok"}' : '{"status":"not_found"}');
});

const io = new Server(http, {
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: MAX_MESSAGE,
  pingInterval: PING_INTERVAL_MS,
  pingTimeout: PING_TIMEOUT_MS,
  serveClient: false,
});

const seqs = new Map(); // feedback_id -> last seq
let nextId = 1;

io.of("/chat").on("connection", (socket) => {
  socket.on("join", (data, ack) => {
    if (typeof ack !== "function") return;
    const fid = feedbackId(data);
    if (fid === undefined) return ack(bad("feedback_id is required"));
    socket.join(`chat:${fid}`);
    ack({ ok: true, data: { feedback_id: fid, last_seq: 0, read_seq: 0, missed: [] } });
  });
  socket.on("send", (data, ack) => {
    const fid = feedbackId(data);
    if (fid === undefined) return typeof ack === "function" && ack(bad("feedback_id is required"));
    const seq = (seqs.get(fid) ?? 0) + 1;
    seqs.set(fid, seq);
    const message = {
      feedback_id: fid,
      seq,
      id: nextId++,
      client_id: String(data.client_id ?? ""),
      author: AUTHOR,
      text: String(data.text ?? ""),
      created_at: new Date().toISOString(),
    };
    io.of("/chat").to(`chat:${fid}`).emit("message", message);
    if (typeof ack === "function") ack({ ok: true, data: { message, duplicate: false } });
  });
});

if (typeof globalThis.gc === "function") process.on("SIGUSR2", () => globalThis.gc());
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));

http.listen(Number(args.port), args.host);
