"""Sending one notification: e-mail over SMTP, or a signed JSON webhook.

Both carry a deterministic id per follow-up and recipient (the Message-ID header; the
`Idempotency-Key` header), so a receiver can drop the duplicate that at-least-once delivery
may produce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

from scheduler.messages import Message

TIMEOUT_SECONDS = 15


class DeliveryError(Exception):
    """A notification could not be delivered now; it will be retried (then dead-lettered)."""


def message_id_header(message_id: str) -> str:
    """A stable RFC 5322 Message-ID for one follow-up and recipient."""
    digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@popcycle>"


@dataclass(frozen=True, slots=True)
class SmtpSender:
    """SMTP from a URL: smtp://[user:pass@]host[:port], smtp+starttls://…, smtps://…"""

    url: str
    sender: str

    def send(self, message_id: str, to: str, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id_header(message_id)
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        parts = urlsplit(self.url)
        host, port = parts.hostname or "localhost", parts.port
        try:
            if parts.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host,
                    port or 465,
                    timeout=TIMEOUT_SECONDS,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(host, port or 25, timeout=TIMEOUT_SECONDS)
            with client:
                if parts.scheme == "smtp+starttls":
                    client.starttls(context=ssl.create_default_context())
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.send_message(mail)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"smtp: {type(error).__name__}: {error}") from error


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """JSON POSTs signed with HMAC-SHA256 over the exact body."""

    url: str
    secret: str | None

    def send(self, message_id: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": message_id}
        if self.secret:
            digest = hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Popcycle-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310 - the URL is the operator's configuration
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"webhook: HTTP {response.status}")
        except OSError as error:
            raise DeliveryError(f"webhook: {type(error).__name__}: {error}") from error
