"""The former name of ledger_verify (the audit trail was a hash chain before it became the log)."""

from __future__ import annotations

from ledger.management.commands.ledger_verify import Command as LedgerVerify


class Command(LedgerVerify):
    help = "Same as ledger_verify (kept for scripts written for the old audit chain). " + LedgerVerify.help
