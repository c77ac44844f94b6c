from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from removal import services
from removal.models import (
    JURISDICTION_CHOICES,
    Channel,
    DenialBasis,
    ExtensionReason,
    IdentityDoubt,
    Right,
    SubjectAsk,
)
from removal.receipts import RECEIPT_MAX_BYTES
from removal.services import NAME_MAX_LENGTH, StaffIdentityFinding


def add_service_errors(form: forms.BaseForm, errors: dict[str, list[str]]) -> None:
    """Show a service's refusal on the form: on the field it names, else above the form."""
    for field, messages in errors.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class AccessibleErrorsMixin(forms.Form):
    """Point each invalid input at its error message, so screen readers announce it with the field."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            described_by = [f"{bound.auto_id}_error"]
            if self.fields[name].help_text:
                described_by.append(f"{bound.auto_id}_helptext")
            self.fields[name].widget.attrs.update(
                {"aria-invalid": "true", "aria-describedby": " ".join(described_by)}
            )


def suppression_retention_text() -> str:
    """How long a suppression template is kept, in the words the consent checkbox uses."""
    days = settings.SUPPRESSION_RETENTION_DAYS
    if days % 365 == 0:
        years = days // 365
        return ngettext(
            "It is kept for %(count)d year, then deleted; without it we keep nothing of your face after "
            "the deletion.",
            "It is kept for %(count)d years, then deleted; without it we keep nothing of your face after "
            "the deletion.",
            years,
        ) % {"count": years}
    return ngettext(
        "It is kept for %(count)d day, then deleted; without it we keep nothing of your face after the "
        "deletion.",
        "It is kept for %(count)d days, then deleted; without it we keep nothing of your face after the "
        "deletion.",
        days,
    ) % {"count": days}


class RemovalRequestForm(AccessibleErrorsMixin, forms.Form):
    """The public form. The service validates again; this only gives friendlier messages first."""

    name = forms.CharField(
        label=_("Your full name"),
        max_length=NAME_MAX_LENGTH,
        help_text=_("As it appears on an identity document, if we need to verify who you are."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Enter your name.")},
    )
    email = forms.EmailField(
        label=_("Your e-mail address"),
        help_text=_("We send the link to follow your request here, and nothing else."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": _("Enter your e-mail address."),
            "invalid": _("Enter a valid e-mail address, like name@example.com."),
        },
    )
    right = forms.ChoiceField(
        label=_("What do you want us to do?"),
        choices=Right.choices,
        widget=forms.RadioSelect,
        initial=Right.ERASURE,
        error_messages={
            "required": _("Choose what you want us to do."),
            "invalid_choice": _("Choose one of the options."),
        },
    )
    jurisdictions = forms.MultipleChoiceField(
        label=_("Where do you live?"),
        help_text=_("Choose every place whose privacy law protects you. We apply the shortest deadline."),
        choices=JURISDICTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one place whose law applies to you."),
            "invalid_choice": _("%(value)s is not a place we know. Choose from the list."),
        },
    )
    # Opt-in: unticked unless the subject ticks it; the retention period comes from the settings.
    suppression_consent = forms.BooleanField(
        label=_(
            "Keep a minimal, encrypted template of my face so that photos of me are refused if they are "
            "collected again."
        ),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        consent = self.fields["suppression_consent"]
        consent.help_text = suppression_retention_text()
        # The checkbox's label is short on purpose; its retention terms are read with it.
        consent.widget.attrs["aria-describedby"] = f"{self['suppression_consent'].auto_id}_helptext"


class StaffIntakeForm(RemovalRequestForm):
    """Staff log requests that arrived by post, phone or e-mail, with the instant they arrived."""

    channel = forms.ChoiceField(
        label=_("Received by"),
        choices=[(c, label) for c, label in Channel.choices if c not in {Channel.WEB, Channel.API}],
    )
    received_at = forms.DateTimeField(
        label=_("Received at (UTC)"),
        help_text=_("When the letter, call or e-mail reached us: the statutory clock starts then."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    language = forms.ChoiceField(
        label=_("Language for letters"), choices=[("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = _("Subject's full name")
        self.fields["email"].label = _("Subject's e-mail address")
        self.fields["jurisdictions"].label = _("Jurisdictions")
        self.fields["right"].label = _("Right the subject exercises")
        self.fields["name"].help_text = _(
            "As the subject wrote it; it must match an identity document if we ask."
        )
        self.fields["email"].help_text = _(
            "Where the subject follows the request: our e-mails and links go here."
        )
        self.fields["jurisdictions"].help_text = _(
            "Every place whose privacy law protects the subject; the shortest deadline applies."
        )
        # Consent to keeping a template of one's face is the subject's own: they give it on their
        # status page, not through staff relaying a letter.
        del self.fields["suppression_consent"]

    def log(self, user: Any) -> Any:
        """Record the valid form's request as logged by `user` (removal.services.removal_request_create:
        raises InvalidRequest; a duplicate comes back with created False)."""
        data = self.cleaned_data
        return services.removal_request_create(
            name=data["name"],
            email=data["email"],
            right=data["right"],
            jurisdictions=data["jurisdictions"],
            channel=data["channel"],
            actor=services.Actor.staff(user),
            language=data["language"],
            received_at=data["received_at"],
            logged_by=user,
        )


class DenyForm(forms.Form):
    basis = forms.ChoiceField(label=_("Legal basis"), choices=DenialBasis.choices)
    note = forms.CharField(
        label=_("Note (stored encrypted)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required for 'another exemption provided by law'. It is shredded with the request."),
    )


class AskSubjectForm(forms.Form):
    ask = forms.ChoiceField(label=_("What we need from the subject"), choices=SubjectAsk.choices)
    doubt = forms.ChoiceField(
        label=_("Why we doubt the requester's identity"),
        choices=[("", _("(no specific doubt)")), *IdentityDoubt.choices],
        required=False,
        help_text=_(
            "Only with a request for identity information. Under the EU soft-pause policy the clock "
            "restarts when the information arrives only if a doubt is recorded here within 3 working days "
            "of receiving the request."
        ),
    )


class ExtensionForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why the request needs more time"), choices=ExtensionReason.choices)


class IdentityReceivedForm(forms.Form):
    received_at = forms.DateTimeField(
        label=_("Received at (UTC)"),
        help_text=_("When the identity information we asked for reached us."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class VerifyForm(forms.Form):
    method = forms.ChoiceField(
        label=_("How identity was verified"),
        choices=[
            ("manual_review", _("Manual review by staff")),
            ("email_and_headshot", _("Confirmed e-mail and headshot")),
            ("document", _("Identity document (not kept)")),
        ],
    )


class IdentityUploadForm(AccessibleErrorsMixin, forms.Form):
    """Photos for identity verification. Read into memory only; the ID photo is never kept."""

    headshot = forms.FileField(
        label=_("A photo of your face"),
        help_text=_(
            "Face the camera in good light, with nobody else in the picture. We use it to find your photos, "
            "keep it encrypted and delete it when your request is done."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        error_messages={"required": _("Add a photo of your face.")},
    )
    document = forms.FileField(
        label=_("A photo of your identity document"),
        help_text=_(
            "Passport photo page or identity card, whole and flat, without glare. We read it in memory "
            "to check it and never store it."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        error_messages={"required": _("Add a photo of your identity document.")},
    )

    def __init__(self, *args: Any, document_required: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not document_required:
            # Data minimisation: where the policy needs no document, the form does not even ask.
            del self.fields["document"]


class IdentityDecisionForm(forms.Form):
    finding = forms.ChoiceField(
        label=_("What your review found"),
        choices=StaffIdentityFinding.choices,
        help_text=_(
            "Decide from the derived facts and the headshot alone. A finding that does not verify denies the "
            "request (identity could not be verified) and tells the subject how to complain."
        ),
    )


class ReceiptVerifyForm(AccessibleErrorsMixin, forms.Form):
    """A deletion receipt to check: pasted, or its file chosen. Nothing is stored."""

    document = forms.CharField(
        label=_("Paste the receipt"),
        required=False,
        strip=True,
        max_length=RECEIPT_MAX_BYTES,
        help_text=_("The whole text of the receipt, from the first { to the last }."),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        error_messages={"max_length": _("This is too large to be a deletion receipt.")},
    )
    upload = forms.FileField(
        label=_("Or choose the receipt file"),
        required=False,
        help_text=_(
            "The .json file attached to our e-mail, or downloaded from your request's page. It is checked "
            "and then forgotten."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/json,.json,text/plain"}),
    )

    def __init__(self, *args: Any, upload_refused: str = "", **kwargs: Any) -> None:
        # An upload refused before its body was parsed (too large) is reported as this form's error.
        super().__init__(*args, **kwargs)
        self.upload_refused = upload_refused

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.upload_refused:
            self.add_error("upload", self.upload_refused)
            return cleaned
        pasted, upload = cleaned.get("document"), cleaned.get("upload")
        if self.errors:
            return cleaned
        if pasted and upload:
            self.add_error("document", _("Paste the receipt or choose its file, not both."))
        elif not pasted and not upload:
            self.add_error("document", _("Paste the receipt or choose its file."))
        else:
            cleaned["receipt"] = upload.read(RECEIPT_MAX_BYTES + 1) if upload else pasted
        return cleaned
