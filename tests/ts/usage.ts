// What the Next.js front end does with roughcut, typed by the generated clients; compiled with
// `tsc --strict --noEmit` by tests/e2e/test_typed_clients.py (never run). `@roughcut/api` is the output of
// openapi-typescript for /api/v1/openapi.json, `@roughcut/socket-events` that of tests/js/socket_types.mjs.
import createClient from "openapi-fetch";
import { io, type Socket } from "socket.io-client";

import type { components, paths } from "@roughcut/api";
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  ProjectsClientToServerEvents,
  ProjectsServerToClientEvents,
} from "@roughcut/socket-events";

type Schemas = components["schemas"];
const BASE = "https://api.example.com";
const api = createClient<paths>({ baseUrl: `${BASE}/api/v1` });

function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

/** Sign in (bearer mode): the token pair is in the body; cookie mode's answer has no tokens. */
export async function signIn(email: string, password: string): Promise<Schemas["TokenPair"]> {
  const { data, error, response } = await api.POST("/auth/login", { body: { email, password } });
  if (error !== undefined) throw new Error(`${response.status} ${error.code}: ${error.detail ?? error.title}`);
  if (!("access_token" in data)) throw new Error("answered in cookie mode");
  const pair: Schemas["TokenPair"] = data;
  return pair;
}

/** Sign in (cookie mode): the tokens stay in httpOnly cookies; the body says who signed in. */
export async function signInWithCookies(email: string, password: string): Promise<number> {
  const { data, error } = await api.POST("/auth/login", {
    params: { query: { cookie: true } },
    body: { email, password },
    credentials: "include",
  });
  if (error !== undefined) throw new Error(error.code);
  const session: Schemas["CookieSession"] | Schemas["TokenPair"] = data;
  return session.user.id;
}

/** Renew the pair with the refresh token. */
export async function refresh(refreshToken: string): Promise<string> {
  const { data, error } = await api.POST("/auth/refresh", { body: { refresh_token: refreshToken } });
  if (error !== undefined) throw new Error(error.code);
  if (!("refresh_token" in data)) throw new Error("answered in cookie mode");
  const access: string = data.access_token;
  return access;
}

/** The first screen: the caller's projects, a new one, a stage change, its threads and a thread's chat history. */
export async function firstScreen(token: string): Promise<string[]> {
  const headers = bearer(token);
  const listed = await api.GET("/projects", { headers, params: { query: { limit: 20, sort: "-updated_at" } } });
  if (listed.error !== undefined) throw new Error(listed.error.code);
  const names: string[] = listed.data.items.map((p) => p.name);
  const next: string | null = listed.data.next_cursor;

  // Only `name` is required: the other fields have server defaults.
  const created = await api.POST("/projects", { headers, body: { name: "Spring campaign" } });
  if (created.error !== undefined) throw new Error(created.error.code);
  const projectId: number = created.data.id;

  const staged = await api.PUT("/projects/{project_id}/stages/{stage}", {
    headers,
    params: { path: { project_id: projectId, stage: "filming" } },
    body: { status: "in_progress", start_at: "2026-12-03T09:00:00Z" },
  });
  if (staged.error !== undefined) throw new Error(staged.error.code);

  const threads = await api.GET("/projects/{project_id}/feedback", { headers, params: { path: { project_id: projectId } } });
  if (threads.error !== undefined) throw new Error(threads.error.code);
  const feedbackId: number | undefined = threads.data.items[0]?.id;
  if (feedbackId !== undefined) {
    const history = await api.GET("/feedback/{feedback_id}/messages", {
      headers,
      params: { path: { feedback_id: feedbackId }, query: { after_seq: 0, limit: 50 } },
    });
    if (history.error !== undefined) throw new Error(history.error.code);
    const texts: string[] = history.data.items.map((m) => `${m.seq}: ${m.text}`);
    names.push(...texts);
  }
  return next === null ? names : [...names, "…"];
}

/** Chat in one thread over /chat, typed both ways. */
export function chat(token: string, feedbackId: number, onText: (text: string, seq: number) => void): () => void {
  const socket: Socket<ChatServerToClientEvents, ChatClientToServerEvents> = io(`${BASE}/chat`, { auth: { token } });
  socket.on("message", (message) => onText(message.text, message.seq));
  socket.on("typing", (notice) => {
    const who: number | undefined = notice.user_id;
    if (who === undefined) return;
  });
  socket.emit("join", { feedback_id: feedbackId }, (ack) => {
    if (!ack.ok) console.warn(ack.error.code, ack.error.message);
  });
  socket.emit("send", { feedback_id: feedbackId, client_id: crypto.randomUUID(), text: "On my way" }, (ack) => {
    if (!ack.ok) console.warn(ack.error.code);
  });
  return () => socket.disconnect();
}

/** Live project events over /projects, in cookie mode (the httpOnly cookie, from an allowed origin). */
export function projectFeed(projectId: number, onStage: (eventId: number) => void): void {
  const socket: Socket<ProjectsServerToClientEvents, ProjectsClientToServerEvents> = io(`${BASE}/projects`, {
    withCredentials: true,
  });
  socket.on("event", (event) => {
    if (event.type === "stage.changed") onStage(event.id);
  });
  socket.emit("subscribe", { project_id: projectId }, (ack) => {
    if (!ack.ok) console.warn(ack.error.code);
  });
}
