"""E-mail backends that fail the way real SMTP servers do, quoting the recipient in the error."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        recipients = {address: (550, b"mailbox unavailable") for m in email_messages for address in m.to}
        raise smtplib.SMTPRecipientsRefused(recipients)


class UnreachableBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        raise ConnectionRefusedError(111, f"Connection refused while sending to {email_messages[0].to[0]}")
