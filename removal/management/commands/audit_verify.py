from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from removal.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exits non-zero and lists the problems if it is broken."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.checked} event(s)"
            )
        self.stdout.write(f"audit chain intact: {report.checked} event(s), head {report.head_hash}")
