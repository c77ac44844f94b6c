from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from ledger.selectors import regulator_of
from removal.models import JURISDICTION_CHOICES, Channel, DenialBasis, ExtensionReason, Right, Status
from removal.queue import QueueFilters


def may_sign_in(user: Any) -> bool:
    """Staff accounts, and the accounts of regulators (their own pages only)."""
    return bool(user.is_active and (user.is_staff or regulator_of(user) is not None))


class StaffLoginForm(AuthenticationForm):
    """Password step. Accounts that are neither staff nor a regulator's are refused with the same
    words as a wrong password: the form does not tell an outsider which usernames exist."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not may_sign_in(user):
            raise self.get_invalid_login_error()


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split()).lower()


class EnrolForm(forms.Form):
    token = forms.CharField(
        label=_("Code shown by the app"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())


class _DateInput(forms.DateInput):
    input_type = "date"


class QueueFilterForm(forms.Form):
    """The queue's filters (GET). Every value is checked against its choices; none is required."""

    jurisdiction = forms.ChoiceField(label=_("Jurisdiction"), required=False)
    right = forms.ChoiceField(label=_("Right"), required=False)
    status = forms.ChoiceField(label=_("State"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    received_from = forms.DateField(label=_("Received from"), required=False, widget=_DateInput())
    received_to = forms.DateField(label=_("Received until"), required=False, widget=_DateInput())

    def __init__(self, *args: Any, assignees: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        everyone = [("", _("All"))]
        choices: dict[str, list[Any]] = {
            "jurisdiction": everyone + list(JURISDICTION_CHOICES),
            "right": everyone + list(Right.choices),
            "status": everyone + list(Status.choices),
            "channel": everyone + list(Channel.choices),
        }
        choices["assignee"] = [
            *everyone,
            ("me", _("Me")),
            ("none", _("Nobody")),
            *assignees,
        ]
        for name, values in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = values

    def filters(self) -> QueueFilters:
        """The valid filters; a field whose value is not one of its choices counts as empty."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return QueueFilters(**{name: data[name] for name in self.fields if data.get(name)})


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name for this view"), max_length=80)


BULK_LIMIT = 500


class BulkActionForm(forms.Form):
    """One action for every selected request (each still checked and audited on its own)."""

    ACTIONS = [
        ("assign", _("Assign to")),
        ("extend", _("Extend the deadline")),
        ("deny", _("Deny")),
        ("confirm_unflagged", _("Confirm the candidate photos not flagged as look-alikes")),
    ]
    action = forms.ChoiceField(label=_("With the selected requests"), choices=ACTIONS)
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    reason = forms.ChoiceField(
        label=_("Why they need more time"),
        choices=[("", _("Choose…")), *ExtensionReason.choices],
        required=False,
    )
    basis = forms.ChoiceField(
        label=_("Legal basis"), choices=[("", _("Choose…")), *DenialBasis.choices], required=False
    )
    note = forms.CharField(
        label=_("Note (stored encrypted)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    FORM_ID = "bulk-form"  # the fields sit below the queue's table, outside the <form> element

    def __init__(self, *args: Any, assignees: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "bulk")
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Nobody (the team)")), *assignees]
        for each in self.fields.values():
            each.widget.attrs["form"] = self.FORM_ID

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "extend" and not data.get("reason"):
            self.add_error("reason", _("Choose why these requests need more time."))
        if action == "deny" and not data.get("basis"):
            self.add_error("basis", _("Choose the legal basis of the denial."))
        selected = self.data.getlist("selected") if hasattr(self.data, "getlist") else []
        try:
            data["selected"] = list(dict.fromkeys(uuid.UUID(value) for value in selected))
        except ValueError:
            raise forms.ValidationError(_("Some selected requests are not requests.")) from None
        if not data["selected"]:
            raise forms.ValidationError(_("Select at least one request."))
        if len(data["selected"]) > BULK_LIMIT:
            raise forms.ValidationError(
                _("Select at most %(limit)d requests at a time.") % {"limit": BULK_LIMIT}
            )
        return data
