"""Mail adapters: written to the log on the embedded default, SMTP via aiosmtplib when SMTP_URL is set."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from roughcut.domain import errors

log = logging.getLogger("roughcut.mail")
SMTP_TIMEOUT = 15


class LogMailer:
    """Writes each mail to the log, for development without a mail server."""

    async def send(self, to: str, subject: str, text: str) -> None:
        """Log the mail (the embedded default's only mail transport)."""
        # Deliberately logged in full: this is the mail transport of the local default, not a leak.
        log.info("mail to %s: %s\n%s", to, subject, text, extra={"mail_to": to, "mail_body": True})


class SmtpMailer:
    """Sends through an SMTP server: `smtp://[user:pass@]host:port` (STARTTLS if offered), `smtps://` for TLS."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "localhost"
        self._tls = parts.scheme == "smtps"
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        """Deliver one plain-text mail."""
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(text)
        try:
            await aiosmtplib.send(
                msg,
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._tls,
                start_tls=None if not self._tls else False,
                timeout=SMTP_TIMEOUT,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.error("mail delivery failed", extra={"smtp_host": self._host, "error": type(exc).__name__})
            raise errors.ServiceUnavailable("Mail could not be sent; try again.") from exc
