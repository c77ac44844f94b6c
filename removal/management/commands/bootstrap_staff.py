from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the first staff account with a random password, printed once. Does nothing if one exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="privacy-admin")
        parser.add_argument("--email", default="privacy-admin@localhost")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("A staff account exists already; no new password was made.")
            return
        password = secrets.token_urlsafe(18)
        user_model.objects.create_superuser(
            username=options["username"], email=options["email"], password=password
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nStaff account created. It is shown this once only:\n"
                f"  username: {options['username']}\n  password: {password}\n"
            )
        )
