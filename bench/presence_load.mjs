// Presence load generator for bench/presence.py (Node, socket.io-client v4).
//
//   node bench/presence_load.mjs --seed seed.json --urls http://a,http://b [--wave 1000] [--flap 0.5]
//
// Opens one /presence WebSocket per member of every room in the seed file, member j of a room on node
// j % nodes, in waves of `--wave` connections, each subscribing to its project. Then a flap: `--flap` of
// the sockets on the first node disconnect and reconnect at once (tabs reloading: coalescing should emit
// next to nothing). Prints one JSON line per phase, then waits for a line "killed <epoch ms>" on stdin
// (the orchestrator SIGKILLed the last node) and reports when the first node's sockets have seen every user
// of the dead node go offline. Every `presence` event received is counted.

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { io } from "socket.io-client";

const CONNECT_TIMEOUT_MS = 30_000;
const ACK_TIMEOUT_MS = 30_000;
const OFFLINE_TIMEOUT_MS = 180_000;

const { values: args } = parseArgs({
  options: {
    seed: { type: "string" },
    urls: { type: "string" },
    wave: { type: "string", default: "1000" },
    flap: { type: "string", default: "0.5" },
  },
});
const seed = JSON.parse(readFileSync(args.seed, "utf8"));
const URLS = args.urls.split(",");
const WAVE = Number(args.wave);
const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const QUIET_MS = 3000; // a phase ends once no presence event came for this long (coalesced changes arrive late)
let received = 0;
let lastEventAt = Date.now();
const sockets = []; // {socket, room, member, node}
const deadUsers = new Map(); // user_id -> project_id, users whose only node is the last one
const offlineSeen = new Set();
let killedAt = 0;
let lastOffline = 0;
let allOffline = null;

function onPresence(node) {
  return (p) => {
    received++;
    lastEventAt = Date.now();
    if (killedAt && node === 0 && p.status === "offline" && deadUsers.has(p.user_id) && !offlineSeen.has(p.user_id)) {
      offlineSeen.add(p.user_id);
      lastOffline = Date.now();
      if (offlineSeen.size === deadUsers.size && allOffline) allOffline();
    }
  };
}

function open(r, j) {
  const room = seed.rooms[r];
  const node = j % URLS.length;
  const socket = io(`${URLS[node]}/presence`, {
    transports: ["websocket"],
    auth: { token: room.members[j].token },
    forceNew: true,
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
  socket.on("presence", onPresence(node));
  return new Promise((resolve, reject) => {
    socket.once("connect", async () => {
      try {
        const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("subscribe", { project_id: room.project_id });
        if (!ack?.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack?.error)}`);
        resolve({ socket, r, j, node });
      } catch (err) {
        socket.close();
        reject(err);
      }
    });
    socket.once("connect_error", reject);
  });
}

let failed = 0; // connections refused or timed out (reported, not fatal: the rest of the run still counts)
const whyFailed = {}; // error message -> count

async function inWaves(pairs) {
  const opened = [];
  for (let i = 0; i < pairs.length; i += WAVE) {
    const started = Date.now();
    const settled = await Promise.allSettled(pairs.slice(i, i + WAVE).map(([r, j]) => open(r, j)));
    for (const s of settled) {
      if (s.status === "fulfilled") opened.push(s.value);
      else {
        failed++;
        const why = String(s.reason?.message ?? s.reason);
        whyFailed[why] = (whyFailed[why] ?? 0) + 1;
      }
    }
    out({ phase: "wave", connected: opened.length, failed, why_failed: whyFailed, wave_ms: Date.now() - started, received });
  }
  return opened;
}

async function quiet() {
  while (Date.now() - lastEventAt < QUIET_MS) await new Promise((resolve) => setTimeout(resolve, 100));
}

const pairs = [];
seed.rooms.forEach((room, r) => room.members.forEach((_m, j) => pairs.push([r, j])));
const started = Date.now();
sockets.push(...(await inWaves(pairs)));
const connectMs = Date.now() - started;
await quiet();
out({ phase: "connected", connections: sockets.length, ms: connectMs, received });

// Flap: part of the first node's sockets reload at once.
const onFirst = sockets.filter((s) => s.node === 0);
const flapping = onFirst.slice(0, Math.floor(onFirst.length * Number(args.flap)));
const beforeFlap = received;
for (const s of flapping) s.socket.close();
const reopened = await inWaves(flapping.map((s) => [s.r, s.j]));
await quiet();
const back = new Map(reopened.map((s) => [`${s.r}:${s.j}`, s]));
for (let i = 0; i < sockets.length; i++) {
  const s = sockets[i];
  if (flapping.includes(s)) sockets[i] = back.get(`${s.r}:${s.j}`) ?? null; // null: it did not come back
}
sockets.splice(0, sockets.length, ...sockets.filter(Boolean));
out({ phase: "flapped", sockets: flapping.length, failed, received_during: received - beforeFlap, received });

const last = URLS.length - 1;
for (const s of sockets) {
  if (s.node === last) deadUsers.set(seed.rooms[s.r].members[s.j].user_id, seed.rooms[s.r].project_id);
}
const done = new Promise((resolve) => {
  allOffline = resolve;
});
out({ phase: "ready_to_kill", dead_users: deadUsers.size });

for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith("killed ")) {
    killedAt = Number(line.split(" ")[1]);
    break;
  }
}
const timeout = new Promise((resolve) => setTimeout(resolve, OFFLINE_TIMEOUT_MS));
await Promise.race([done, timeout]);
out({
  phase: "dead_node",
  dead_users: deadUsers.size,
  seen_offline: offlineSeen.size,
  offline_after_s: offlineSeen.size ? Number(((lastOffline - killedAt) / 1000).toFixed(2)) : null,
  received,
});
for (const s of sockets) s.socket.close();
process.exit(0);
