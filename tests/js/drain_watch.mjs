// Opens `count` socket.io-client v4 connections on one transport and reports when the server tells them to go.
//
//   node tests/js/drain_watch.mjs URL TOKEN COUNT websocket|polling
//
// Connects in waves of WAVE sockets (each wave once the previous one is connected), as tabs do over time.
// Prints {"connected": n, "ms": ...} once every socket is connected, then {"gone": n, "reasons": {...}} once
// every one of them got `disconnect` (a node draining must close each, so the client reconnects elsewhere).
import { io } from "socket.io-client";

const [url, token, count, transport] = process.argv.slice(2);
const n = Number(count);
const started = Date.now();
const WAVE = 500;
const reasons = {};
let connected = 0;
let opened = 0;
let gone = 0;

function wave() {
  const upto = Math.min(n, opened + WAVE);
  for (; opened < upto; opened++) open();
}

function open() {
  const socket = io(url, { auth: { token }, transports: [transport], reconnection: false, forceNew: true });
  socket.on("connect", () => {
    connected += 1;
    if (connected === n) console.log(JSON.stringify({ connected, ms: Date.now() - started }));
    else if (connected === opened) wave();
  });
  socket.on("connect_error", (err) => {
    console.error(`connect_error: ${err.message}`);
    process.exit(2);
  });
  socket.on("disconnect", (reason) => {
    gone += 1;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    if (gone === n) {
      console.log(JSON.stringify({ gone, reasons, at: Date.now() }));
      process.exit(0);
    }
  });
}

wave();
