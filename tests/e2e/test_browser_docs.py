"""/api/docs in headless Chromium: Swagger UI loads the OpenAPI document and lists every operation."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.browser import WAIT_MS, chromium

METHODS = {"get", "put", "post", "delete", "patch"}


async def test_docs_page_renders_every_operation(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    expected = sorted(op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m in METHODS)
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []  # a Content-Security-Policy violation is reported as a console error
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        response = await page.goto(str(client.make_url("/api/docs")))
        assert response is not None
        assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
        await page.wait_for_selector(".opblock", timeout=WAIT_MS)
        assert await page.locator(".errors-wrapper").count() == 0, await page.content()
        shown = await page.locator(".opblock").count()
        title = await page.locator(".info .title").inner_text()
    assert errors == []
    assert shown == len(expected)
    assert "roughcut" in title
