// The /chat flow with the official JavaScript client (socket.io-client v4, as the Next.js app uses it).
//
//   node tests/js/chat_flow.mjs '{"url": "http://127.0.0.1:PORT", "a": {"token": "...", "user_id": 1},
//                                 "b": {"token": "...", "user_id": 2}, "feedback_id": 3,
//                                 "transports": ["polling", "websocket"]}'   (default: websocket only)
//
// Prints ONE JSON line with what it observed (acks and received events, no verdicts); the Python test
// (tests/e2e/test_js_client.py) asserts on it. Every wait has a timeout: on any timeout or exception it
// prints the error to stderr and exits non-zero.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { io } from "socket.io-client";

const WAIT_MS = 5000; // one step: connect, ack, or an expected event
const WATCHDOG_MS = 45000; // the whole flow (the Python side kills us at 60 s)
const KINDS = ["message", "typing", "read"];

/** Resolve `promise`, or reject after `ms` with an error naming what was awaited. */
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A /chat socket that queues every server event, like tests/chat_client.py. */
class Chat {
  constructor(name, url, auth, transports) {
    this.name = name;
    this.queues = Object.fromEntries(KINDS.map((k) => [k, []]));
    this.waiters = Object.fromEntries(KINDS.map((k) => [k, []]));
    this.transports = transports;
    const opts = { transports, forceNew: true, reconnection: false, autoConnect: false };
    if (auth !== undefined) opts.auth = auth;
    this.socket = io(`${url}/chat`, opts);
    for (const kind of KINDS) {
      this.socket.on(kind, (payload) => {
        const waiter = this.waiters[kind].shift();
        if (waiter) waiter(payload);
        else this.queues[kind].push(payload);
      });
    }
  }

  /** The transport the engine settled on: with polling first, once its upgrade to a WebSocket is done. */
  settled() {
    const engine = this.socket.io.engine;
    if (engine.transport.name === "websocket" || !this.transports.includes("websocket")) {
      return Promise.resolve(engine.transport.name);
    }
    return within(new Promise((resolve) => engine.once("upgrade", (t) => resolve(t.name))), `${this.name} upgrade`);
  }

  /** Connect; resolves {connected: true} or {connect_error: {message, data}} (refusal is an outcome). */
  open() {
    const outcome = new Promise((resolve) => {
      const done = (result) => {
        this.socket.off("connect", onConnect);
        this.socket.off("connect_error", onError);
        resolve(result);
      };
      const onConnect = () => done({ connected: true });
      const onError = (err) => done({ connect_error: { message: err.message, data: err.data ?? null } });
      this.socket.on("connect", onConnect);
      this.socket.on("connect_error", onError);
    });
    this.socket.connect();
    return within(outcome, `${this.name} connect`);
  }

  /** Connect, and fail unless the server accepted. */
  async connect() {
    const outcome = await this.open();
    if (!outcome.connected) throw new Error(`${this.name} was refused: ${JSON.stringify(outcome)}`);
    return this;
  }

  /** Emit and wait for the ack (socket.io-client's own timeout rejects). */
  async call(event, data) {
    try {
      return await this.socket.timeout(WAIT_MS).emitWithAck(event, data);
    } catch (err) {
      throw new Error(`${this.name} ${event}: no ack within ${WAIT_MS} ms (${err.message})`);
    }
  }

  join(feedbackId, afterSeq) {
    const payload = { feedback_id: feedbackId };
    if (afterSeq !== undefined) payload.after_seq = afterSeq;
    return this.call("join", payload);
  }

  send(feedbackId, text, clientId = randomUUID()) {
    return this.call("send", { feedback_id: feedbackId, client_id: clientId, text });
  }

  /** The next `kind` event the server sent (queued or still to come). */
  next(kind = "message") {
    if (this.queues[kind].length) return Promise.resolve(this.queues[kind].shift());
    const arrived = new Promise((resolve) => this.waiters[kind].push(resolve));
    return within(arrived, `${this.name} to receive a '${kind}' event`);
  }

  /** Whatever arrived that nobody waited for. */
  leftover() {
    return Object.fromEntries(KINDS.map((k) => [k, [...this.queues[k]]]));
  }

  /** Disconnect and wait until the client reports it (the same socket can connect again). */
  async close() {
    if (!this.socket.connected) {
      this.socket.disconnect();
      return;
    }
    const gone = new Promise((resolve) => this.socket.once("disconnect", resolve));
    this.socket.disconnect();
    await within(gone, `${this.name} disconnect`);
  }
}

function clientVersion() {
  const manifest = new URL("./node_modules/socket.io-client/package.json", import.meta.url);
  return JSON.parse(readFileSync(manifest, "utf8")).version;
}

async function main() {
  if (process.argv.length !== 3) throw new Error("usage: node chat_flow.mjs '<json>'");
  const { url, a: userA, b: userB, feedback_id: fid, transports = ["websocket"] } = JSON.parse(process.argv[2]);
  const seen = { client: { name: "socket.io-client", version: clientVersion() } };
  const sockets = [];
  const chat = (name, auth) => {
    const c = new Chat(name, url, auth, transports);
    sockets.push(c);
    return c;
  };

  try {
    // Refusals: no auth at all, then a token that is not one of ours.
    seen.refused = {
      no_token: await chat("no-token").open(),
      bad_token: await chat("bad-token", { token: "not-a-real-token" }).open(),
    };

    const a = await chat("A", { token: userA.token }).connect();
    const b = await chat("B", { token: userB.token }).connect();
    seen.join = { b: await b.join(fid), a: await a.join(fid) };

    // A sends; B receives it live, A's ack carries the stored message.
    const clientId = randomUUID();
    const first = await a.send(fid, "First cut looks great", clientId);
    seen.send = { client_id: clientId, ack: first, b_received: await b.next() };

    // The same client_id again: the stored message, flagged as a duplicate.
    seen.retry = { ack: await a.send(fid, "First cut looks great", clientId) };

    // B goes away, A sends 3 more; B comes back on the same socket and rejoins after what it saw.
    const afterSeq = seen.send.b_received.seq;
    await b.close();
    const offline = [];
    for (const text of ["while away 1", "while away 2", "while away 3"]) {
      offline.push(await a.send(fid, text));
    }
    await b.connect();
    seen.offline = { acks: offline, after_seq: afterSeq, rejoin: await b.join(fid, afterSeq) };

    // Live delivery resumes after the rejoin.
    const live = await a.send(fid, "back to live");
    seen.live = { ack: live, b_received: await b.next() };
    seen.transport = await a.settled();

    // Typing: A's start reaches B; A's stop too.
    const typingOn = await a.call("typing", { feedback_id: fid, typing: true });
    const typingOnSeen = await b.next("typing");
    const typingOff = await a.call("typing", { feedback_id: fid, typing: false });
    const typingOffSeen = await b.next("typing");
    seen.typing = { ack: typingOn, b_received: typingOnSeen, stop_ack: typingOff, b_received_stop: typingOffSeen };

    // Read marker: B reads up to the last message; A is told.
    const lastSeq = live.data.message.seq;
    const readAck = await b.call("read", { feedback_id: fid, seq: lastSeq });
    seen.read = { seq: lastSeq, ack: readAck, a_received: await a.next("read") };

    // A validation error comes back in the ack envelope.
    seen.invalid = { ack: await a.send(fid, "") };

    // The sender's own socket got every stored message too (its other tabs would).
    const stored = 1 + offline.length + 1;
    seen.a_messages = [];
    for (let i = 0; i < stored; i++) seen.a_messages.push(await a.next());

    seen.leftover = { a: a.leftover(), b: b.leftover() };
  } finally {
    for (const c of sockets) c.socket.disconnect();
  }
  process.stdout.write(`${JSON.stringify(seen)}\n`);
}

const watchdog = setTimeout(() => {
  process.stderr.write(`chat_flow: the whole flow took longer than ${WATCHDOG_MS} ms\n`);
  process.exit(3);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  () => {
    process.exitCode = 0;
  },
  (err) => {
    process.stderr.write(`chat_flow: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
