"""The old project list reads a fixed number of statements, however many projects and members it shows."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, count_statements, create_project, join, signup

Client = TestClient[Any, Any]


async def _listed(node: Client, pair: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    with count_statements(node) as seen:
        resp = await node.get("/projects/project_list", headers=auth(pair))
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    return body["result"], len(seen)


async def test_the_project_list_costs_the_same_for_two_projects_or_six(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node = await make_client()
    owner, other = await signup(node, mailbox), await signup(node, mailbox)
    helpers = [await signup(node, mailbox) for _ in range(3)]
    mine = [await create_project(node, owner, name=f"mine {i}") for i in range(2)]
    await join(node, mine[0]["id"], helpers[0]["user"]["id"], "manager")
    listed, few = await _listed(node, owner)
    assert [p["name"] for p in listed] == ["mine 1", "mine 0"]
    assert listed[1]["member_list"][0]["rating"] == "manager"

    for i in range(2, 5):
        project = await create_project(node, owner, name=f"mine {i}")
        for helper in helpers:
            await join(node, project["id"], helper["user"]["id"])
    theirs = await create_project(node, other, name="theirs")
    await join(node, theirs["id"], owner["user"]["id"])
    listed, many = await _listed(node, owner)
    assert [p["name"] for p in listed] == ["mine 4", "mine 3", "mine 2", "mine 1", "mine 0", "theirs"]
    assert [len(p["member_list"]) for p in listed] == [3, 3, 3, 0, 1, 1]
    assert listed[-1]["owner_email"] == other["user"]["email"]
    assert many == few  # no statement per project
