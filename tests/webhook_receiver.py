"""A real HTTP receiver of revalidation webhooks for the tests: it verifies each delivery's signature with the
`standardwebhooks` package (not roughcut's signing code), can fail attempts on purpose, and keeps each
webhook-id once, counting repeats, as a Next.js route handler deduplicating by id would."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.fail_next = 0  # answer this many attempts with `fail_status`, then take them
        self.failing = False  # answer every attempt with `fail_status` while set
        self.fail_status = 503
        self.failed = 0
        self.delivered: dict[str, dict[str, Any]] = {}  # by webhook-id, the first verified body
        self.repeats = 0
        self.forged = 0  # requests whose signature did not verify
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/revalidate", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/revalidate"
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=400)
        async with self._changed:
            try:
                if self.failing or self.fail_next > 0:
                    self.fail_next = max(0, self.fail_next - 1)
                    self.failed += 1
                    return web.Response(status=self.fail_status)
                webhook_id = request.headers["webhook-id"]
                assert payload["id"] == webhook_id
                if webhook_id in self.delivered:
                    self.repeats += 1
                else:
                    self.delivered[webhook_id] = payload
                return web.Response(status=204)
            finally:
                self._changed.notify_all()

    async def wait(self, check: Callable[[Receiver], bool], bound: float = 15.0) -> None:
        """Until `check(self)` holds after some request (bounded)."""
        async with asyncio.timeout(bound), self._changed:
            await self._changed.wait_for(lambda: check(self))

    def tag_sets(self) -> list[frozenset[str]]:
        return [frozenset(body["tags"]) for body in self.delivered.values()]
