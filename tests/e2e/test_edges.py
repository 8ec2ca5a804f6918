"""Problem+json, request ids, OpenAPI, offline docs, health and readiness."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import Mailbox, auth, signup


async def test_validation_problem_shape(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/auth/login", json={"email": 5}, headers={"X-Request-ID": "req-12345678"})
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= body.keys()
    assert body["code"] == "validation_failed"
    assert body["status"] == 422
    assert set(body["errors"]) == {"email", "password"}
    assert body["request_id"] == resp.headers["X-Request-ID"] == "req-12345678"


async def test_malformed_json_and_unknown_routes(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/auth/login", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 422
    assert (await resp.json())["code"] == "validation_failed"
    resp = await client.post("/api/v1/auth/login", json=[1, 2])
    assert resp.status == 422
    resp = await client.get("/api/v1/nowhere")
    assert resp.status == 404
    assert (await resp.json())["code"] == "not_found"
    resp = await client.delete("/api/v1/auth/login")
    assert resp.status == 405
    assert (await resp.json())["code"] == "method_not_allowed"
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])


async def test_ids_beyond_64_bits_are_not_found(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    for path in (
        "/api/v1/projects/99999999999999999999",
        "/api/v1/feedback/9223372036854775808/comments",
        "/api/v1/comments/0",
        "/api/v1/projects/-3",
    ):
        resp = await client.get(path, headers=auth(pair))
        assert resp.status in (404, 405), path
        assert (await resp.json())["code"] in ("not_found", "method_not_allowed"), path


async def test_body_too_large(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/auth/login", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["code"] == "payload_too_large"


async def test_openapi_document(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    assert "Problem" in spec["components"]["schemas"]
    op_ids = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            op_ids.append(op["operationId"])
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, status)
    assert len(op_ids) == len(set(op_ids))
    for path in ("/auth/email-codes", "/auth/login", "/auth/refresh", "/auth/social/{provider}", "/me", "/me/memos"):
        assert path in spec["paths"]
    login = spec["paths"]["/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LoginRequest")


async def test_interactive_docs_work_offline(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/docs")
    assert resp.status == 200
    html = await resp.text()
    external = [
        u for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if u.startswith(("http:", "https:", "//"))
    ]
    assert external == []
    assets = re.findall(r"""src=["']([^"']+\.js)""", html)
    assert assets
    for asset in assets:
        js = await client.get(asset)
        assert js.status == 200
        assert len(await js.read()) > 1000
    assert "/api/v1/openapi.json" in html


async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    body = await (await client.get("/readyz")).json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}}
    await client.get("/api/v1/projects/123", headers={"Authorization": "Bearer x"})
    metrics = await (await client.get("/metrics")).text()
    assert "python_info" in metrics
    assert 'roughcut_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}' in metrics
    # Labelled by the route template, not the raw path.
    assert 'route="/api/v1/projects/{project_id}",status="401"' in metrics
    assert "/projects/123" not in metrics
    assert "roughcut_db_statements_total" in metrics


async def test_readiness_reports_a_failed_dependency(make_client: Any) -> None:
    client = await make_client(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/roughcut_no_such_db")
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["code"] == "not_ready"
    assert body["checks"] == {"database": "failed", "redis": "ok", "storage": "ok"}


async def test_asyncapi_document(client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/api/v1/asyncapi.json")).json()
    assert doc["asyncapi"].startswith("2.")
    assert set(doc["channels"]) == {"/", "/projects", "/chat", "/presence", "/uploads"}
    chat_in = {m["name"]: m for m in doc["channels"]["/chat"]["publish"]["message"]["oneOf"]}
    assert set(chat_in) == {"join", "leave", "send", "typing", "read", "reauth"}
    assert chat_in["send"]["payload"]["properties"]["text"]["maxLength"] == 4000
    chat_out = {m["name"] for m in doc["channels"]["/chat"]["subscribe"]["message"]["oneOf"]}
    assert chat_out == {"message", "typing", "read", "resync", "auth_expired"}
    projects_out = {m["name"]: m for m in doc["channels"]["/projects"]["subscribe"]["message"]["oneOf"]}
    assert projects_out["resync"]["payload"]["required"] == ["project_id"]
    assert {m["name"] for m in doc["channels"]["/projects"]["publish"]["message"]["oneOf"]} >= {"subscribe"}
    presence_in = {m["name"] for m in doc["channels"]["/presence"]["publish"]["message"]["oneOf"]}
    assert presence_in == {"subscribe", "unsubscribe", "watch", "unwatch", "status", "reauth"}
    assert {m["name"] for m in doc["channels"]["/presence"]["subscribe"]["message"]["oneOf"]} >= {"presence"}
    uploads_in = {m["name"] for m in doc["channels"]["/uploads"]["publish"]["message"]["oneOf"]}
    assert uploads_in == {"progress", "reauth"}
    assert projects_out["upload.progress"]["payload"]["required"][:2] == ["project_id", "upload_id"]


def test_openapi_is_valid() -> None:
    from openapi_spec_validator import validate

    from roughcut.http.api import openapi_document

    validate(openapi_document())
