"""Headless Chromium (Debian's `chromium` package) driven over the DevTools Protocol by playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

HERE = Path(__file__).resolve().parent
SOCKET_IO_BUNDLE = HERE.parent / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
WAIT_MS = 10_000  # one step in the page: a render, an answer, an event


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, launched by playwright (which never downloads a browser here)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is needed for the browser tests: .ci/run installs it (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def front_end() -> AsyncIterator[str]:
    """A static server on its own port (another origin than the API): the test page and socket.io-client."""
    if not SOCKET_IO_BUNDLE.is_file():
        pytest.fail("tests/js/node_modules is missing: run `make test` (it runs `npm ci --prefix tests/js`)")

    async def bundle(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(SOCKET_IO_BUNDLE)

    app = web.Application()
    app.router.add_get("/socket.io.min.js", bundle)
    app.router.add_static("/", HERE / "static")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
