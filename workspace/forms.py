from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from removal.models import JURISDICTION_CHOICES, Channel, Right, Status
from removal.queue import QueueFilters


class StaffLoginForm(AuthenticationForm):
    """Password step. Accounts that are not staff are refused with the same words as a wrong
    password: the form does not tell an outsider which usernames exist."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
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
