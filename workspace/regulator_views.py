"""A regulator's own pages, after the shared sign-in: what it may read (its jurisdictions), an export
of the request log for a period as the signed bundle the offline verifier checks, and where the
public parts are (checkpoints, keys, transparency reports). Never a request, a name or a photo."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django import forms
from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ledger import regulators
from ledger.exports import ExportError, export_period
from ledger.models import Regulator
from workspace.access import regulator_page, staff_user

VERIFIER = Path(settings.BASE_DIR) / "ledger" / "verify_bundle.py"


class ExportForm(forms.Form):
    since = forms.DateField(label=_("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Last day"), widget=forms.DateInput(attrs={"type": "date"}))
    jurisdictions = forms.MultipleChoiceField(
        label=_("Jurisdictions"), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args: object, regulator: Regulator, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["jurisdictions"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(code, code) for code in regulator.jurisdictions]
        field.help_text = _("None ticked: all of yours.")


def _context(regulator: Regulator, form: ExportForm, error: str = "") -> dict[str, object]:
    return {
        "regulator": regulator,
        "form": form,
        "error": error,
        "year": timezone.now().year - 1,
        # Keys fetched from the service's published URL, not the copy inside the bundle.
        "keys_url": f"{settings.PUBLIC_BASE_URL}{reverse('ledger:public_keys')}",
        "base_url": settings.PUBLIC_BASE_URL,
    }


@regulator_page
def home_view(request: HttpRequest, regulator: Regulator) -> HttpResponse:
    today = timezone.localdate()
    form = ExportForm(regulator=regulator, initial={"since": today.replace(day=1), "until": today})
    return render(request, "workspace/regulator_home.html", _context(regulator, form))


@require_POST
@regulator_page
def export_view(request: HttpRequest, regulator: Regulator) -> HttpResponseBase:
    form = ExportForm(request.POST, regulator=regulator)
    if not form.is_valid():
        return render(request, "workspace/regulator_home.html", _context(regulator, form), status=400)
    data = form.cleaned_data
    try:
        since, until = export_period(data["since"].isoformat(), data["until"].isoformat())
        archive, _result = regulators.regulator_export(
            regulator=regulator,
            account=staff_user(request),
            since=since,
            until=until,
            jurisdictions=list(data["jurisdictions"]),
        )
    except (ExportError, regulators.AccessRefused) as exc:
        return render(
            request, "workspace/regulator_home.html", _context(regulator, form, str(exc)), status=400
        )
    handle = archive.open("rb")
    archive.unlink()  # the open handle keeps the data until the response is sent
    last_day = (until - timedelta(days=1)).date()
    response = FileResponse(handle, as_attachment=True, filename=f"request-log-{since.date()}-{last_day}.zip")
    response["Cache-Control"] = "no-store"
    return response


@regulator_page
def verifier_view(request: HttpRequest, regulator: Regulator) -> HttpResponseBase:
    """The offline verifier, one standard-library Python file, to check a bundle without us."""
    response = FileResponse(VERIFIER.open("rb"), as_attachment=True, filename="verify_bundle.py")
    response["Content-Type"] = "text/x-python; charset=utf-8"
    return response
