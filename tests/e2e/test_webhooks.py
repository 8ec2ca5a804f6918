"""Revalidation webhooks end to end: a real receiver verifying signatures gets every page-changing batch's tags
once, through forced failures, a restart of the sender, the dead letter and its replay; the admin API."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from roughcut import keys
from roughcut.config import Secret, Settings, WebhookTarget
from roughcut.domain.webhooks import new_secret
from roughcut.storage import tables as t
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, join, signup
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.usefixtures("empty_job_queue")  # a worker here must not run other tests' jobs

Client = TestClient[Any, Any]
API = "/api/v1"
ADMIN = f"{API}/admin/webhooks"
DEAD = f"{API}/admin/webhook-deliveries/dead"
CLI_TIMEOUT = 60


@pytest.fixture(params=["postgres", "sqlite"])
def base(request: pytest.FixtureRequest, sqlite_settings: Settings, pg_settings: Settings) -> Settings:
    """A worker in the app, polling often, and retries shortened from seconds to tens of milliseconds."""
    chosen = sqlite_settings if request.param == "sqlite" else pg_settings
    return replace(chosen, job_worker=True, job_poll_interval=0.05, webhook_backoff=0.05, webhook_max_backoff=0.2)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver(new_secret())
    await server.start()
    yield server
    await server.stop()


def _configured(settings: Settings, receiver: Receiver, **overrides: Any) -> Settings:
    return replace(settings, webhook_urls=(WebhookTarget(receiver.url, Secret(receiver.secret)),), **overrides)


async def _admin(client: Client, mailbox: Mailbox) -> dict[str, Any]:
    pair = await signup(client, mailbox)
    async with client.app[keys.UOW]() as uow:
        await uow.users.update(pair["user"]["id"], datetime.now(UTC), is_admin=True)
        await uow.commit()
    return pair


async def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return None if status in (202, 204) else await resp.json()


async def test_each_batch_arrives_once_through_failures_and_a_restart(
    make_client: AppFactory, base: Settings, receiver: Receiver, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _configured(base, receiver)
    client = await make_client(settings)
    owner, member = await signup(client, mailbox), await signup(client, mailbox)
    o, m = owner["user"]["id"], member["user"]["id"]
    receiver.fail_next = 2  # the first delivery's first two attempts fail: it is retried
    pid = (await create_project(client, owner))["id"]
    (first,) = (await _ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner))))["items"]
    expected = [{f"project:{pid}", f"feedback:{first['id']}", f"user:{o}:projects"}]
    await receiver.wait(lambda r: len(r.delivered) == 1)
    assert receiver.failed == 2

    await join(client, pid, m)  # no event: the member shows up in the next events' audiences
    await _ok(await client.put(f"{API}/projects/{pid}/stages/filming", json={"status": "done"}, headers=auth(owner)))
    expected.append({f"project:{pid}", f"user:{o}:projects", f"user:{m}:projects"})
    await receiver.wait(lambda r: len(r.delivered) == 2)

    # The receiver goes down; what is committed meanwhile waits in the database through a restart.
    receiver.failing = True
    made = await client.post(f"{API}/projects/{pid}/feedback", json={"title": "Cut 2"}, headers=auth(owner))
    thread = await _ok(made, 201)
    expected.append({f"project:{pid}", f"feedback:{thread['id']}", f"user:{o}:projects", f"user:{m}:projects"})
    await _ok(await client.patch(f"{API}/projects/{pid}", json={"name": "Renamed"}, headers=auth(owner)))
    expected.append({f"project:{pid}", f"user:{o}:projects", f"user:{m}:projects"})
    failed_before = receiver.failed
    await receiver.wait(lambda r: r.failed >= failed_before + 2)  # both were tried, and failed
    await client.close()
    receiver.failing = False

    again = await make_client(settings)
    await receiver.wait(lambda r: len(r.delivered) == 4)
    assert sorted(map(sorted, receiver.tag_sets())) == sorted(map(sorted, expected))
    assert receiver.forged == 0
    assert all(body["events"] and body["at"].endswith("Z") for body in receiver.delivered.values())
    metrics = await (await again.get("/metrics")).text()
    assert 'roughcut_jobs_total{kind="webhook.deliver",outcome="failed"}' in metrics
    assert 'roughcut_jobs_total{kind="webhook.deliver",outcome="ok"}' in metrics
    key = receiver.secret.removeprefix("whsec_")
    assert "job failed; retry" in caplog.text
    assert key not in caplog.text and receiver.url not in caplog.text


async def test_a_dead_delivery_is_listed_and_replayed(
    make_client: AppFactory, base: Settings, receiver: Receiver, mailbox: Mailbox
) -> None:
    settings = _configured(base, receiver, webhook_retry_for=0.5)
    client = await make_client(settings)
    admin = await _admin(client, mailbox)
    receiver.failing = True
    pid = (await create_project(client, admin))["id"]
    ref = settings.webhook_urls[0].ref

    async def dead() -> list[dict[str, Any]]:
        items = (await _ok(await client.get(DEAD, headers=auth(admin))))["items"]
        return [d for d in items if d["endpoint"] == ref]

    async with asyncio.timeout(15):
        while not await dead():  # noqa: ASYNC110 - the state is the queue's rows, read through the API
            await asyncio.sleep(0.05)
    (item,) = await dead()
    assert f"project:{pid}" in item["tags"] and item["event"] == "feedback.created"
    assert item["attempts"] >= 2 and "HTTP 503" in item["error"]
    assert item["webhook_id"] not in receiver.delivered
    code, out = await _cli(settings, "dead-jobs", "--kind", "webhook.deliver")
    assert code == 0 and item["id"] in [orjson.loads(line)["id"] for line in out.splitlines()]

    receiver.failing = False
    await _ok(await client.post(f"{API}/admin/webhook-deliveries/{item['id']}/replay", headers=auth(admin)), 202)
    await receiver.wait(lambda r: item["webhook_id"] in r.delivered)
    assert await dead() == []
    resp = await client.post(f"{API}/admin/webhook-deliveries/{item['id']}/replay", headers=auth(admin))
    assert (resp.status, (await resp.json())["code"]) == (404, "not_found")  # no longer dead


async def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": settings.db_url, "DATA_DIR": str(settings.data_dir)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roughcut", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_admins_register_endpoints_and_others_are_refused(
    make_client: AppFactory, base: Settings, receiver: Receiver, mailbox: Mailbox
) -> None:
    client = await make_client(base)
    admin, user = await _admin(client, mailbox), await signup(client, mailbox)
    for method, path in (
        ("GET", ADMIN),
        ("POST", ADMIN),
        ("POST", f"{ADMIN}/1/rotate-secret"),
        ("DELETE", f"{ADMIN}/1"),
        ("GET", DEAD),
        ("POST", f"{API}/admin/webhook-deliveries/1/replay"),
    ):
        resp = await client.request(method, path, json={"url": receiver.url}, headers=auth(user))
        assert (resp.status, (await resp.json())["code"]) == (403, "permission_denied"), (method, path)
    for bad in ({}, {"url": "ftp://example.com/x"}, {"url": "not a url"}, {"url": "http://"}, {"url": 7}):
        resp = await client.post(ADMIN, json=bad, headers=auth(admin))
        body = await resp.json()
        assert (resp.status, body["code"]) == (422, "validation_failed"), bad
    gone = Receiver(new_secret())
    await gone.start()
    made: list[int] = []
    try:
        created = await _ok(await client.post(ADMIN, json={"url": receiver.url}, headers=auth(admin)), 201)
        made.append(created["id"])
        assert created["secret"].startswith("whsec_") and created["disabled_at"] is None
        receiver.secret = created["secret"]
        other = await _ok(await client.post(ADMIN, json={"url": gone.url}, headers=auth(admin)), 201)
        made.append(other["id"])
        gone.secret, gone.failing, gone.fail_status = other["secret"], True, 410
        listed = (await _ok(await client.get(ADMIN, headers=auth(admin))))["items"]
        assert all("secret" not in e for e in listed) and {created["id"], other["id"]} <= {e["id"] for e in listed}

        pid = (await create_project(client, admin))["id"]
        await receiver.wait(lambda r: any(f"project:{pid}" in tags for tags in r.tag_sets()))
        await gone.wait(lambda r: r.failed == 1)  # 410 Gone: the endpoint is disabled, not retried

        async def disabled_at() -> Any:
            items = (await _ok(await client.get(ADMIN, headers=auth(admin))))["items"]
            return next(e["disabled_at"] for e in items if e["id"] == other["id"])

        async with asyncio.timeout(10):
            while await disabled_at() is None:  # noqa: ASYNC110 - set by the worker after the 410
                await asyncio.sleep(0.05)
        await _ok(await client.patch(f"{API}/projects/{pid}", json={"name": "Again"}, headers=auth(admin)))
        await receiver.wait(lambda r: len(r.delivered) == 2)
        assert gone.failed == 1  # no delivery went to the disabled endpoint

        rotated = await _ok(await client.post(f"{ADMIN}/{other['id']}/rotate-secret", headers=auth(admin)))
        assert rotated["secret"] != other["secret"] and rotated["disabled_at"] is None
        gone.secret, gone.failing = rotated["secret"], False
        await _ok(await client.patch(f"{API}/projects/{pid}", json={"name": "Third"}, headers=auth(admin)))
        await gone.wait(lambda r: len(r.delivered) == 1)
        assert receiver.forged == gone.forged == 0
    finally:
        for endpoint_id in made:  # the PostgreSQL database is shared by the run's tests
            await client.delete(f"{ADMIN}/{endpoint_id}", headers=auth(admin))
        await gone.stop()
    resp = await client.delete(f"{ADMIN}/{made[0]}", headers=auth(admin))
    assert (resp.status, (await resp.json())["code"]) == (404, "not_found")


async def test_no_delivery_without_a_page_change_nor_from_the_request(
    make_client: AppFactory, base: Settings, receiver: Receiver, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = _configured(base, receiver, job_worker=False)  # no worker: nothing may be sent at all
    client = await make_client(settings)
    owner = await signup(client, mailbox)
    await create_project(client, owner)
    await _ok(await client.post(f"{API}/auth/logout", headers=auth(owner)), 204)
    async with client.app[keys.ENGINE].connect() as conn:
        q = select(t.jobs.c.payload).where(t.jobs.c.kind == "webhook.deliver", t.jobs.c.status == "pending")
        pending = [p for p in (await conn.execute(q)).scalars() if p["endpoint"] == settings.webhook_urls[0].ref]
    assert len(pending) == 1  # the project's creation; the logout changes no page
    assert receiver.delivered == {} and receiver.failed == 0
