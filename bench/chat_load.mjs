// Chat-room load generator for bench/chat.py (Node, socket.io-client v4: a Python client would be the limit).
//
//   node bench/chat_load.mjs --seed seed.json --url http://127.0.0.1:8080 --rate 1000 --seconds 10 [--server roughcut]
//
// Opens one /chat websocket per member of every room in the seed file (from `roughcut loadtest-seed`), joins
// each to its room, sends `--rate` messages/s in total for `--seconds` (spread evenly over rooms and members),
// then waits up to `--drain` seconds for every copy. Each delivered copy is timed (receive - send, one clock)
// and checked per receiver for duplicates. Prints ONE JSON line.
//
//   node bench/chat_load.mjs --seed seed.json --url URL --idle [--offset K] [--connections N]   (bench/idle_memory.py)
//
// Idle mode connects and joins N members (room by room, skipping the first K), prints ONE JSON line once every
// join is acked, then holds the sockets open, sending nothing, until stdin closes or SIGTERM.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { io } from "socket.io-client";

const TICK_MS = 1; // the send loop wakes this often and sends what is due
const CONNECT_CONCURRENCY = 50; // sockets connecting (and joining) at once
const CONNECT_TIMEOUT_MS = 20_000;
const ACK_TIMEOUT_MS = 10_000;
const DRAIN_POLL_MS = 10;
const TEXT_BYTES = 200;
const HIST_RES_MS = 0.05; // latency histogram bucket width
const HIST_MAX_MS = 30_000; // latencies above this land in the last bucket (max_ms stays exact)
const MASK_MEMBERS = 30; // up to this many members a record tracks its receivers in one integer

const { values: args } = parseArgs({
  options: {
    seed: { type: "string" },
    url: { type: "string" },
    rate: { type: "string", default: "100" },
    seconds: { type: "string", default: "10" },
    drain: { type: "string", default: "5" },
    server: { type: "string", default: "server" },
    idle: { type: "boolean", default: false },
    connections: { type: "string" },
    offset: { type: "string", default: "0" },
  },
});
if (!args.seed || !args.url) {
  console.error("usage: node chat_load.mjs --seed FILE --url URL [--rate N] [--seconds S] [--drain S] [--server NAME]");
  process.exit(2);
}
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const DRAIN_MS = Number(args.drain) * 1000;
const seed = JSON.parse(readFileSync(args.seed, "utf8"));
const ROOMS = seed.rooms;
const R = ROOMS.length;
const M = Math.min(...ROOMS.map((room) => room.members.length));
const PAD = "x".repeat(TEXT_BYTES);

class Histogram {
  constructor() {
    this.buckets = new Uint32Array(Math.ceil(HIST_MAX_MS / HIST_RES_MS) + 1);
    this.count = 0;
    this.max = 0;
  }
  add(ms) {
    const i = Math.min(this.buckets.length - 1, Math.max(0, Math.floor(ms / HIST_RES_MS)));
    this.buckets[i]++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  pct(p) {
    if (!this.count) return 0;
    const target = Math.ceil(p * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= target) return round(Math.min((i + 1) * HIST_RES_MS, this.max));
    }
    return round(this.max);
  }
}

const round = (x, digits = 2) => Number(x.toFixed(digits));
const latency = new Histogram();
const ackLatency = new Histogram();
const perRoom = ROOMS.map(() => ({ sent: 0, received: 0, duplicated: 0, failedAcks: 0 }));
const pending = new Map(); // client_id -> {room, sentAt, seen, count}
let sent = 0;
let acked = 0;
let failedAcks = 0;
let received = 0;
let duplicated = 0;
let misrouted = 0;
let unknown = 0;
let lastReceipt = 0;
let firstError;

function noteError(text) {
  if (firstError === undefined) firstError = text;
}

function onMessage(r, j) {
  const bit = j < MASK_MEMBERS ? 1 << j : 0;
  return (msg) => {
    const now = performance.now();
    const rec = pending.get(msg.client_id);
    if (rec === undefined) {
      unknown++;
      return;
    }
    if (rec.room !== r) {
      misrouted++;
      return;
    }
    if (bit) {
      if (rec.seen & bit) {
        duplicated++;
        perRoom[r].duplicated++;
        return;
      }
      rec.seen |= bit;
    } else {
      rec.seen ||= new Set();
      if (rec.seen.has(j)) {
        duplicated++;
        perRoom[r].duplicated++;
        return;
      }
      rec.seen.add(j);
    }
    rec.count++;
    received++;
    perRoom[r].received++;
    lastReceipt = now;
    latency.add(now - rec.sentAt);
  };
}

function connect(r, j) {
  const room = ROOMS[r];
  const socket = io(`${args.url}/chat`, {
    transports: ["websocket"],
    auth: { token: room.members[j].token },
    query: { room: String(r) }, // bench/cluster.py's balancer may place a room's sockets on one node by it
    forceNew: true,
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
  socket.on("message", onMessage(r, j));
  return new Promise((resolve, reject) => {
    socket.once("connect", async () => {
      try {
        const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("join", { feedback_id: room.feedback_id });
        if (!ack?.ok) throw new Error(`join refused: ${JSON.stringify(ack?.error)}`);
        resolve(socket);
      } catch (err) {
        socket.close();
        reject(err);
      }
    });
    socket.once("connect_error", (err) => {
      socket.close();
      reject(new Error(`connect failed (room ${room.feedback_id}, member ${j}): ${err.message}`));
    });
  });
}

async function connectAll(offset = 0, limit = R * M) {
  const sockets = ROOMS.map(() => new Array(M));
  const all = [];
  for (let r = 0; r < R; r++) for (let j = 0; j < M; j++) all.push([r, j]);
  const jobs = all.slice(offset, offset + limit);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const [r, j] = jobs[next++];
      sockets[r][j] = await connect(r, j);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return sockets;
}

function sendOne(sockets, r, j) {
  const clientId = randomUUID();
  const sentAt = performance.now();
  const text = `sent_at_ms=${sentAt.toFixed(3)} ${PAD}`.slice(0, TEXT_BYTES);
  pending.set(clientId, { room: r, sentAt, seen: 0, count: 0 });
  sent++;
  perRoom[r].sent++;
  const payload = { feedback_id: ROOMS[r].feedback_id, client_id: clientId, text };
  sockets[r][j].timeout(ACK_TIMEOUT_MS).emit("send", payload, (err, ack) => {
    acked++;
    ackLatency.add(performance.now() - sentAt);
    if (err || !ack?.ok) {
      failedAcks++;
      perRoom[r].failedAcks++;
      noteError(err ? `ack: ${err.message}` : `ack: ${JSON.stringify(ack?.error)}`);
    }
  });
}

function sendFor(sockets) {
  // Member-major order: consecutive messages go to different rooms, every member sends in turn.
  const senders = [];
  for (let j = 0; j < M; j++) for (let r = 0; r < R; r++) senders.push([r, j]);
  const total = Math.round(RATE * SECONDS);
  const start = performance.now();
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
      while (sent < due) {
        const [r, j] = senders[sent % senders.length];
        sendOne(sockets, r, j);
      }
      if (sent < total) setTimeout(tick, TICK_MS);
      else resolve({ start, end: performance.now() });
    };
    tick();
  });
}

async function drain() {
  const deadline = performance.now() + DRAIN_MS;
  while (performance.now() < deadline && (received < sent * M || acked < sent)) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}

async function main() {
  const connectStart = performance.now();
  const sockets = await connectAll();
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const cpuBefore = process.cpuUsage();
  const { start, end } = await sendFor(sockets);
  await drain();
  const cpu = process.cpuUsage(cpuBefore);
  const window = (Math.max(end, lastReceipt) - start) / 1000;
  const cpuWindow = (performance.now() - start) / 1000;
  const expected = sent * M;
  const roomsWithLoss = perRoom.filter((room) => room.received < room.sent * M).length;
  const result = {
    server: args.server,
    rooms: R,
    members: M,
    rate: RATE,
    seconds: SECONDS,
    sent,
    sent_per_s: round(sent / ((end - start) / 1000), 1),
    delivered: received,
    delivered_per_s: round(received / window, 1),
    p50_ms: latency.pct(0.5),
    p95_ms: latency.pct(0.95),
    p99_ms: latency.pct(0.99),
    max_ms: round(latency.max),
    lost: expected - received,
    duplicated,
    failed_acks: failedAcks + (sent - acked),
    expected,
    rooms_with_loss: roomsWithLoss,
    misrouted,
    unknown,
    ack_p50_ms: ackLatency.pct(0.5),
    ack_p99_ms: ackLatency.pct(0.99),
    connect_s: round(connectSeconds),
    client_cpu_util: round((cpu.user + cpu.system) / 1e6 / cpuWindow),
  };
  if (firstError !== undefined) result.error = firstError;
  console.log(JSON.stringify(result));
  for (const row of sockets) for (const socket of row) socket.disconnect();
  setTimeout(() => process.exit(0), 200);
}

async function idle() {
  const connectStart = performance.now();
  const sockets = await connectAll(Number(args.offset), Number(args.connections ?? R * M));
  const connected = sockets.flat().filter(Boolean).length;
  const connectSeconds = (performance.now() - connectStart) / 1000;
  console.log(JSON.stringify({ server: args.server, connected, connect_s: round(connectSeconds) }));
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

(args.idle ? idle() : main()).catch((err) => {
  console.error(`chat_load: ${err.stack || err}`);
  process.exit(1);
});
