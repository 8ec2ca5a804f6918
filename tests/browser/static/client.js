// What a browser front end does with roughcut, exposed as window.rc for tests/e2e/test_browser_client.py.
// Bearer mode keeps the access token in memory and sends it in Authorization / the socket's `auth`;
// cookie mode keeps nothing: fetch and socket.io-client send the httpOnly cookie (`credentials`,
// `withCredentials`). Every function resolves with what it observed; waits time out with an error.
"use strict";

const WAIT_MS = 8000;

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Events in arrival order, each taken once by `next`. */
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }
  next(what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return within(new Promise((resolve) => this.waiters.push(resolve)), what);
  }
}

const state = { api: "", mode: "bearer", token: null, sockets: {}, inboxes: {}, streams: {} };

function headers(extra) {
  const h = { ...extra };
  if (state.mode === "bearer" && state.token) h.Authorization = `Bearer ${state.token}`;
  return h;
}

async function request(method, path, body) {
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (state.mode === "cookie") init.credentials = "include";
  if (body) init.body = JSON.stringify(body);
  const resp = await fetch(`${state.api}${path}`, init);
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

function inbox(key) {
  if (!state.inboxes[key]) state.inboxes[key] = new Inbox();
  return state.inboxes[key];
}

window.rc = {
  async login(api, mode, email, password) {
    state.api = api;
    state.mode = mode;
    const query = mode === "cookie" ? "?cookie=1" : "";
    const resp = await request("POST", `/api/v1/auth/login${query}`, { email, password });
    if (mode === "bearer") state.token = resp.body.access_token;
    return { status: resp.status, has_token: "access_token" in (resp.body || {}), cookies: document.cookie };
  },

  get(path) {
    return request("GET", path);
  },

  post(path, body) {
    return request("POST", path, body);
  },

  /** Connect to a namespace; resolves {connected} or {connect_error: {message, data}}. */
  connect(namespace, events, transports) {
    const opts = { forceNew: true, reconnection: false, transports };
    if (state.mode === "bearer") opts.auth = { token: state.token };
    else opts.withCredentials = true;
    const socket = io(`${state.api}${namespace}`, opts);
    state.sockets[namespace] = socket;
    for (const name of events) socket.on(name, (payload) => inbox(`${namespace} ${name}`).push(payload));
    return within(
      new Promise((resolve) => {
        socket.on("connect", () => resolve({ connected: true, transport: socket.io.engine.transport.name }));
        socket.on("connect_error", (err) => resolve({ connect_error: { message: err.message, data: err.data ?? null } }));
      }),
      `${namespace} connect`,
    );
  },

  call(namespace, event, data) {
    return state.sockets[namespace].timeout(WAIT_MS).emitWithAck(event, data);
  },

  next(namespace, event) {
    return inbox(`${namespace} ${event}`).next(`${event} on ${namespace}`);
  },

  /** Open an EventSource on a project's stream (cookie mode: the cookie; bearer mode: a stream ticket). */
  async stream(projectId, types) {
    let url = `${state.api}/api/v1/projects/${projectId}/events/stream`;
    const opts = {};
    if (state.mode === "cookie") opts.withCredentials = true;
    else {
      const ticket = await request("POST", `/api/v1/projects/${projectId}/events/stream-tickets`);
      if (ticket.status !== 201) return { ticket_status: ticket.status, body: ticket.body };
      url += `?ticket=${encodeURIComponent(ticket.body.ticket)}`;
    }
    const source = new EventSource(url, opts);
    state.streams[projectId] = source;
    for (const type of types) source.addEventListener(type, (e) => inbox(`stream ${type}`).push({ id: e.lastEventId, data: JSON.parse(e.data) }));
    return within(
      new Promise((resolve) => {
        source.onopen = () => resolve({ open: true });
        source.onerror = () => resolve({ error: true, readyState: source.readyState });
      }),
      "the event stream to open",
    );
  },

  nextStreamEvent(type) {
    return inbox(`stream ${type}`).next(`${type} on the event stream`);
  },

  close() {
    for (const socket of Object.values(state.sockets)) socket.disconnect();
    for (const source of Object.values(state.streams)) source.close();
  },
};
