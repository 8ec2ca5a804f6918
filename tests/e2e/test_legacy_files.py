"""Files sent with the old create/update forms: stored through the blob port as project files, listed the old way."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from roughcut import keys
from tests.conftest import AppFactory
from tests.e2e.test_legacy_api import ORIGIN, PROCESS, cookie_header, old_login
from tests.helpers import Mailbox, signup, unique_email

Client = TestClient[Any, Any]
PDF = b"%PDF-1.4\n" + "한글 내용".encode() * 20_000  # larger than one read chunk
MAX_FILE = 64 * 1024


def _form(name: str, files: list[tuple[str, bytes, str]], **extra: str) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)  # a browser sends the UTF-8 file name as it is
    form.add_field("inputs", json.dumps({"name": name, "manager": "김", "consumer": "브랜드", "description": "설명"}))
    form.add_field("process", json.dumps(PROCESS))
    for key, value in extra.items():
        form.add_field(key, value)
    for filename, data, content_type in files:
        form.add_field("files", data, filename=filename, content_type=content_type)
    return form


async def _only_project(node: Client, headers: dict[str, str]) -> dict[str, Any]:
    (project,) = (await (await node.get("/projects/project_list", headers=headers)).json())["result"]
    detail: dict[str, Any] = await (await node.get(f"/projects/detail/{project['id']}", headers=headers)).json()
    return detail["result"]


async def _download(node: Client, url: str) -> bytes:
    parts = urlsplit(url)
    resp = await node.get(f"{parts.path}?{parts.query}")
    assert resp.status == 200, await resp.text()
    return await resp.read()


async def test_files_on_the_old_create_and_update_forms_become_project_files(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node = await make_client(cors_origins=(ORIGIN,), upload_max_file_bytes=len(PDF) + 1)
    email = unique_email("owner")
    await signup(node, mailbox, email)
    h = cookie_header(await old_login(node, email))
    form = _form("파일 프로젝트", [("기획서.pdf", PDF, "application/pdf"), ("notes.txt", b"hello", "text/plain")])
    resp = await node.post("/projects/create", data=form, headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    project = await _only_project(node, h)
    assert sorted(f["file_name"] for f in project["files"]) == ["notes.txt", "기획서.pdf"]
    by_name = {f["file_name"]: f for f in project["files"]}
    assert await _download(node, by_name["기획서.pdf"]["files"]) == PDF

    # update appends, with the other parts applied as before
    form = aiohttp.FormData()
    form.add_field("inputs", json.dumps({"description": "바뀐 설명"}))
    form.add_field("files", b"more", filename="more.txt", content_type="text/plain")
    resp = await node.post(f"/projects/detail/{project['id']}", data=form, headers=h)
    assert (resp.status, await resp.json()) == (200, {"result": "result"})
    project = await _only_project(node, h)
    assert project["description"] == "바뀐 설명"
    assert sorted(f["file_name"] for f in project["files"]) == ["more.txt", "notes.txt", "기획서.pdf"]


async def test_a_file_past_the_limit_or_of_the_wrong_kind_is_refused_and_not_stored(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node = await make_client(cors_origins=(ORIGIN,), upload_max_file_bytes=MAX_FILE)
    email = unique_email("owner")
    await signup(node, mailbox, email)
    h = cookie_header(await old_login(node, email))
    resp = await node.post("/projects/create", data=_form("빈 프로젝트", []), headers=h)
    assert resp.status == 200
    pid = (await _only_project(node, h))["id"]

    big = aiohttp.FormData()
    big.add_field("files", b"x" * (MAX_FILE + 1), filename="big.txt", content_type="text/plain")
    resp = await node.post(f"/projects/detail/{pid}", data=big, headers=h)
    assert (resp.status, await resp.json()) == (413, {"message": "잘못된 요청입니다."})

    lying = aiohttp.FormData()
    lying.add_field("files", b"MZ\x90\x00 not a pdf", filename="x.pdf", content_type="application/pdf")
    resp = await node.post(f"/projects/detail/{pid}", data=lying, headers=h)
    assert resp.status in (400, 409, 422), await resp.text()
    assert set(await resp.json()) == {"message"}
    assert (await _only_project(node, h))["files"] == []
    async with node.app[keys.UOW]() as uow:
        assert await uow.files.list(pid) == []
