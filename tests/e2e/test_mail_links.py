"""Links in mail: FRONTEND_URL's pages when it is set, else the API's own resource; never a 404."""

from __future__ import annotations

from urllib.parse import urlsplit

from roughcut.config import Settings
from tests.conftest import AppFactory
from tests.e2e.test_invitations import invite
from tests.helpers import Mailbox, create_project, signup, unique_email


def _link(mailbox: Mailbox, address: str) -> str:
    body = mailbox.to(address)[-1].get_payload(decode=True)
    assert isinstance(body, bytes)
    return next(w for w in body.decode().split() if "/invitations/" in w)


async def test_the_invitation_link_opens_the_front_end(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox
) -> None:
    client = await make_client(frontend_url="https://app.example.com")
    owner = await signup(client, mailbox)
    email = unique_email("invitee")
    await invite(client, owner, (await create_project(client, owner))["id"], email)
    link = _link(mailbox, email)
    assert link.startswith("https://app.example.com/invitations/")
    token = link.rsplit("/", 1)[1]
    assert (await client.get(f"/api/v1/invitations/{token}")).status == 200  # what the page asks the API


async def test_without_a_front_end_the_link_opens_the_api(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox
) -> None:
    client = await make_client()
    owner = await signup(client, mailbox)
    email = unique_email("invitee")
    await invite(client, owner, (await create_project(client, owner))["id"], email)
    link = _link(mailbox, email)
    assert link.startswith(f"{pg_settings.public_url}/api/v1/invitations/")
    resp = await client.get(urlsplit(link).path)  # the same path on the test server
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["project_name"] == "Spring campaign"
