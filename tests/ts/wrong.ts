// Must NOT compile: tests/e2e/test_typed_clients.py checks that tsc refuses each marked line, so the
// generated types are really checked (not `any`).
import createClient from "openapi-fetch";
import { io, type Socket } from "socket.io-client";

import type { paths } from "@roughcut/api";
import type { ChatClientToServerEvents, ChatServerToClientEvents } from "@roughcut/socket-events";

const api = createClient<paths>({ baseUrl: "https://api.example.com/api/v1" });

export async function wrong(): Promise<void> {
  await api.PUT("/projects/{project_id}/stages/{stage}", {
    params: { path: { project_id: "7", stage: "shooting" } }, // WRONG: a string id and no such stage
    body: { status: "in_progress" },
  });
  const socket: Socket<ChatServerToClientEvents, ChatClientToServerEvents> = io("https://api.example.com/chat");
  socket.emit("send", { feedback_id: 1, text: 5 }, () => undefined); // WRONG: text is a string, client_id is missing
  socket.on("message", (message) => {
    const seq: string = message.seq; // WRONG: seq is a number
    console.log(seq);
  });
}
