"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.postgres import free_port


@dataclass
class Inbox:
    """Every message the server accepted, parsed, with its envelope recipients."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), mail))
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp(inbox: Inbox | None = None) -> Iterator[tuple[str, Inbox]]:
    """Yield (POP_SMTP_URL, inbox) of a server that runs until the block ends (`inbox`: a
    handler of your own, e.g. one that refuses some messages)."""
    inbox = inbox if inbox is not None else Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()
