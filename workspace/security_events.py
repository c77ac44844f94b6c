"""Sign-ins, failures, lockouts, sign-outs and factor changes, as events in the request log.

The log is public, so an event names the account by id only: never a username (a mistyped password
often lands in the username field), never an address. The client address of a failure stays with
django-axes, in the database only staff administrators read.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from ledger.entries import JsonValue
from ledger.services import event_append


def account_event(
    action: str, *, user: Any = None, by_them: bool = True, outcome: str = "ok", **details: JsonValue
) -> None:
    """One event about a staff account (object "account", id = the account's id or "unknown").

    `by_them` False when someone not (yet) signed in did it: a failed attempt, a lockout.
    """
    account = str(user.pk) if user is not None and user.pk is not None else "unknown"
    with transaction.atomic():
        event_append(
            actor=f"staff:{account}" if by_them and user is not None else "anonymous",
            action=f"account.{action}",
            object_type="account",
            object_id=account,
            outcome=outcome,
            details=details,
        )


def _account_named(username: object) -> Any:
    if not isinstance(username, str) or not username:
        return None
    return get_user_model().objects.filter(username=username).first()


@receiver(user_logged_in, dispatch_uid="workspace.password_accepted")
def _password_accepted(sender: Any, request: Any, user: Any, **_: Any) -> None:
    # Half a sign-in: the second factor comes next (workspace.login_views records "logged_in").
    account_event("password_accepted", user=user)


@receiver(user_login_failed, dispatch_uid="workspace.login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    step = credentials.get("step", "password")
    user = _account_named(credentials.get("username"))
    account_event("login_failed", user=user, by_them=False, outcome="refused", step=step)


@receiver(user_locked_out, dispatch_uid="workspace.locked_out")
def _locked_out(sender: Any, request: Any = None, username: Any = None, **_: Any) -> None:
    account_event("locked_out", user=_account_named(username), by_them=False, outcome="refused")


@receiver(user_logged_out, dispatch_uid="workspace.logged_out")
def _logged_out(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    if user is not None:
        reason = getattr(request, "staff_signed_out_because", "") or "signed_out"
        account_event("logged_out", user=user, reason=reason)
