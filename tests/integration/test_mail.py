"""SmtpMailer against a real aiosmtpd server."""

from __future__ import annotations

import socket

import pytest

from roughcut.domain import errors
from roughcut.storage.mail import SmtpMailer
from tests.helpers import Mailbox, unique_email


async def test_smtp_delivers_plain_text(smtp: tuple[str, Mailbox]) -> None:
    url, box = smtp
    to = unique_email("mail")
    await SmtpMailer(url, "roughcut <no-reply@roughcut.test>").send(to, "Hello 안녕", "Line one\nCode 123456")
    [msg] = box.to(to)
    assert msg["Subject"] == "Hello 안녕"
    assert msg["From"] == "roughcut <no-reply@roughcut.test>"
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "Code 123456" in body.decode()


async def test_unreachable_server_is_service_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.ServiceUnavailable):
        await SmtpMailer(f"smtp://127.0.0.1:{port}", "x@y.z").send("a@b.c", "s", "t")
