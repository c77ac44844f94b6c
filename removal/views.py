"""Public pages: the request form, the confirmation link, the status page and the receipt check.

Thin: services decide."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.decorators import ratelimit

from identity import selectors as identity_selectors
from identity.models import VerificationRecord
from identity.uploads import UploadTooLarge, memory_only_uploads
from removal import selectors, services
from removal.forms import (
    IdentityUploadForm,
    ReceiptVerifyForm,
    RemovalRequestForm,
    add_service_errors,
    suppression_retention_text,
)
from removal.identity_check import IdentityCheck, identity_check
from removal.models import Channel, RemovalRequest, Right, Status
from removal.receipts import RECEIPT_MAX_BYTES, category_label, receipt_filename, receipt_verify
from removal.services import suppression
from vault.signing import KeyConfigurationError, configured_public_keys, public_keys_to_json

# What the subject sees next, per status: plain words, no internals.
NEXT_STEPS = {
    Status.RECEIVED: gettext_lazy(
        "We have your request. Please confirm your e-mail address with the link we sent you."
    ),
    Status.AWAITING_SUBJECT: gettext_lazy(
        "We need something from you: please read our latest e-mail and reply to it."
    ),
    Status.VERIFYING: gettext_lazy("We are checking that the request comes from you."),
    Status.VERIFIED: gettext_lazy("The check is done. Next we search for photos of you."),
    Status.DISCOVERING: gettext_lazy("We are searching our database for photos of you."),
    Status.AWAITING_REVIEW: gettext_lazy(
        "A member of our privacy team is reviewing what we found before anything is deleted."
    ),
    Status.PURGING: gettext_lazy("We are deleting your photos and everything derived from them."),
    Status.COMPLETED: gettext_lazy(
        "Done. We have e-mailed you to confirm that your request was carried out."
    ),
    Status.DENIED: gettext_lazy(
        "We could not carry out your request. Our e-mail explains why and how you can complain."
    ),
    Status.WITHDRAWN: gettext_lazy("You withdrew this request. Nothing more will happen."),
}


# The subject reads "Waiting for you" where staff read "Waiting for the subject".
_SUBJECT_STATUS_LABELS = {Status.AWAITING_SUBJECT: gettext_lazy("Waiting for you")}


def _rate(setting: str) -> Callable[[str, HttpRequest], str]:
    return lambda group, request: str(getattr(settings, setting))


@ratelimit(key="ip", rate=_rate("INTAKE_FORM_RATE_PER_IP"), method="POST", block=False)
@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    form = RemovalRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and getattr(request, "limited", False):
        messages.error(request, _("Too many requests from this address. Please try again in an hour."))
        return render(request, "removal/request_form.html", {"form": RemovalRequestForm()}, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            submission = services.intake_submit(
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                right=form.cleaned_data["right"],
                jurisdictions=form.cleaned_data["jurisdictions"],
                channel=Channel.WEB,
                actor=services.SUBJECT,
                language=get_language() or "en",
                suppression_consent=form.cleaned_data["suppression_consent"],
            )
        except services.InvalidRequest as exc:
            add_service_errors(form, exc.errors)
        else:
            # Same answer, in content and in time, for a new request and a duplicate: what differs
            # between them runs after the answer is sent (removal.services.submissions).
            response = redirect("removal:submitted")
            services.intake_process_after_answer(response, submission)
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, "removal/request_form.html", {"form": form}, status=status)


@require_GET
def submitted(request: HttpRequest) -> HttpResponse:
    return render(request, "removal/submitted.html")


@never_cache
@require_http_methods(["GET", "POST"])
def confirm_email(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("t") or request.GET.get("t", "")
    status_token = request.POST.get("s") or request.GET.get("s", "")
    if request.method == "GET":
        # A button, not an automatic confirmation: mail scanners open links, people press buttons.
        return render(request, "removal/confirm_email.html", {"token": token, "status_token": status_token})
    try:
        confirmed = services.removal_request_confirm_email(signed_token=token)
    except signing.SignatureExpired:
        return render(request, "removal/link_problem.html", {"expired": True}, status=400)
    except (signing.BadSignature, RemovalRequest.DoesNotExist):
        return render(request, "removal/link_problem.html", {"expired": False}, status=400)
    # Lead on to the request only with the status secret of this very request.
    own = selectors.removal_request_by_status_token(token=status_token) if status_token else None
    next_url = f"{reverse('removal:status')}?t={status_token}" if own and own.id == confirmed.id else ""
    return render(
        request, "removal/email_confirmed.html", {"reference": confirmed.reference, "next_url": next_url}
    )


@never_cache
@require_http_methods(["GET"])
def status_receipt(request: HttpRequest) -> HttpResponse:
    """The request's deletion receipt as the .json file to keep, behind the same secret as the page."""
    removal_request = selectors.removal_request_by_status_token(token=request.GET.get("t", ""))
    receipt = selectors.removal_request_receipt(request=removal_request) if removal_request else None
    if removal_request is None or receipt is None:
        return render(request, "removal/link_problem.html", {"expired": False}, status=404)
    response = HttpResponse(receipt.document, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{receipt_filename(removal_request.reference)}"'
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def status_page(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("t") or request.GET.get("t", "")
    removal_request = selectors.removal_request_by_status_token(token=token)
    if removal_request is None:
        return render(request, "removal/link_problem.html", {"expired": False}, status=404)
    if request.method == "POST" and request.POST.get("action") == "withdraw":
        if request.POST.get("confirm") != "yes":
            # Withdrawing cannot be undone: ask once more, on a page of its own.
            context = {"req": removal_request, "token": token}
            return render(request, "removal/withdraw_confirm.html", context)
        try:
            services.removal_request_withdraw(request=removal_request, actor=services.SUBJECT)
        except services.IllegalTransition:
            messages.error(request, _("This request can no longer be withdrawn."))
        else:
            messages.success(request, _("Your request is withdrawn."))
        return redirect(f"{request.path}?t={token}")
    if request.method == "POST" and request.POST.get("action") == "suppression":
        _change_suppression(request, removal_request, give=request.POST.get("consent") == "yes")
        return redirect(f"{request.path}?t={token}")
    can_verify = (
        services.evidence_required(removal_request).headshot
        and removal_request.status in (Status.RECEIVED, Status.AWAITING_SUBJECT)
        and services.attempts_left(removal_request) > 0
    )
    next_step: str = str(NEXT_STEPS[Status(removal_request.status)])
    if removal_request.status == Status.AWAITING_SUBJECT and removal_request.pending_ask:
        next_step = _("We need something from you: %(ask)s. Please reply to our latest e-mail.") % {
            "ask": removal_request.get_pending_ask_display()
        }
    elif can_verify and removal_request.email_confirmed_at:
        # The next step is theirs, right below: never "we will be in touch" above a request for photos.
        next_step = _(
            "Thank you for confirming your e-mail address. Next, send us a photo of your face (below)."
        )
    elif can_verify:
        next_step = _(
            "Please confirm your e-mail address with the link we sent you, "
            "and send us a photo of your face (below)."
        )
    elif removal_request.status == Status.RECEIVED and removal_request.email_confirmed_at:
        next_step = _("Thank you for confirming your e-mail address. We will be in touch soon.")
    check = identity_check(request=removal_request)
    if check is not None and check.matches == 0:
        next_step = _("A member of our privacy team checks the search before your request is closed.")
    context = {
        "req": removal_request,
        "token": token,
        "masked_email": selectors.removal_request_masked_email(request=removal_request),
        "jurisdictions": selectors.jurisdiction_names(request=removal_request),
        "deadlines": selectors.removal_request_deadlines(request=removal_request, for_subject=True),
        "next_step": next_step,
        "status_label": _subject_status_label(removal_request, check),
        "check": check,
        "can_withdraw": any(m.name == "withdraw" for m in services.allowed_moves(removal_request)),
        "can_verify": can_verify,
        "last_attempt": identity_selectors.latest_verification(
            subject_ref=services.subject_ref(removal_request)
        ),
        "progress": selectors.removal_request_purge_progress(request=removal_request)
        if removal_request.status == Status.PURGING
        else None,
        "receipt": selectors.removal_request_receipt(request=removal_request),
        **_suppression_context(removal_request),
    }
    return render(request, "removal/status.html", context)


def _subject_status_label(removal_request: RemovalRequest, check: IdentityCheck | None) -> str:
    if removal_request.status == Status.VERIFIED and check is not None:
        return check.status_label
    return str(
        _SUBJECT_STATUS_LABELS.get(Status(removal_request.status), removal_request.get_status_display())
    )


def _change_suppression(request: HttpRequest, removal_request: RemovalRequest, *, give: bool) -> None:
    if not give:
        # Withdrawal works at any time: after approval it deletes the template already made.
        suppression.suppression_withdraw(request=removal_request, actor=services.SUBJECT)
        messages.success(request, _("Done: we will keep nothing of your face after the deletion."))
        return
    try:
        suppression.suppression_consent_set(request=removal_request, consent=True, actor=services.SUBJECT)
    except services.IllegalTransition:
        messages.error(request, _("It is too late to change this: your photos are already being deleted."))
    else:
        messages.success(
            request, _("Done: we will keep a minimal, encrypted template of your face after the deletion.")
        )


def _suppression_context(removal_request: RemovalRequest) -> dict[str, object]:
    """What the status page says about suppression: only for erasures, the only requests with a face."""
    if removal_request.right != Right.ERASURE or removal_request.status in (Status.DENIED, Status.WITHDRAWN):
        return {"suppression_shown": False}
    entry = suppression.suppression_entry_for(request=removal_request)
    return {
        "suppression_shown": True,
        "suppression_changeable": suppression.suppression_consent_changeable(removal_request),
        "suppression_entry": entry,
        "suppression_retention": suppression_retention_text(),
    }


def _per_request_key(group: str, request: HttpRequest) -> str:
    # The status link's secret names the request; its hash keys the limit (the body is not read yet).
    token = request.GET.get("t", "") or request.headers.get("X-Status-Token", "")
    return selectors.hash_status_token(token)


def identity_upload_guard(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """What every identity upload endpoint gets: rate limits, then a memory-only body capped in size.

    The limits come first and key on the address and the status token, so an abusive client is
    refused before its body is read at all.
    """
    guarded = memory_only_uploads(
        max_file_bytes=settings.IDENTITY_UPLOAD_MAX_BYTES,
        max_total_bytes=2 * settings.IDENTITY_UPLOAD_MAX_BYTES + 65536,
        max_files=2,
    )(view)
    # Named groups: the form and the API count in one budget per limit, not one each.
    guarded = ratelimit(
        group="identity-upload-per-request",
        key=_per_request_key,
        rate=_rate("IDENTITY_UPLOAD_RATE_PER_REQUEST"),
        method="POST",
        block=False,
    )(guarded)
    return ratelimit(
        group="identity-upload-per-client",
        key="ip",
        rate=_rate("IDENTITY_UPLOAD_RATE_PER_IP"),
        method="POST",
        block=False,
    )(guarded)


@never_cache
@identity_upload_guard
@require_http_methods(["GET", "POST"])
def verify_identity(request: HttpRequest) -> HttpResponse:
    """The subject sends a headshot (and an ID photo where the policy asks): checked in memory."""
    token = request.GET.get("t", "")
    removal_request = selectors.removal_request_by_status_token(token=token)
    if removal_request is None:
        return render(request, "removal/link_problem.html", {"expired": False}, status=404)
    status_url = f"{reverse('removal:status')}?t={token}"
    evidence = services.evidence_required(removal_request)
    if not evidence.headshot or removal_request.status not in (Status.RECEIVED, Status.AWAITING_SUBJECT):
        return redirect(status_url)
    form = IdentityUploadForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        document_required=evidence.document,
    )
    if request.method == "POST" and getattr(request, "limited", False):
        form = IdentityUploadForm(document_required=evidence.document)
        messages.error(request, _("Too many attempts from here. Please wait an hour and try again."))
        return render(
            request, "removal/verify_identity.html", _verify_context(removal_request, form, token), status=429
        )
    if request.method == "POST" and form.is_valid():
        document = form.cleaned_data.get("document")
        try:
            record = services.removal_request_submit_identity(
                request=removal_request,
                headshot=form.cleaned_data["headshot"].read(),
                document=document.read() if document else None,
                actor=services.SUBJECT,
            )
        except services.InvalidRequest as exc:
            add_service_errors(form, exc.errors)
        except services.IllegalTransition:
            return redirect(status_url)
        else:
            if record.outcome == "verified" and record.method == VerificationRecord.Method.HEADSHOT_AND_EMAIL:
                messages.success(request, _("Thank you: your photo is checked."))
            else:
                messages.success(request, str(_VERIFY_OUTCOME_MESSAGES[record.outcome]))
            return redirect(status_url)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "removal/verify_identity.html", _verify_context(removal_request, form, token), status=status
    )


_VERIFY_OUTCOME_MESSAGES = {
    "verified": gettext_lazy("Thank you: your identity is confirmed."),
    "inconclusive": gettext_lazy(
        "Thank you. A member of our privacy team will check your photos and be in touch."
    ),
    "failed": gettext_lazy("We could not confirm your identity. See below what to do."),
}


def _verify_context(
    removal_request: RemovalRequest, form: IdentityUploadForm, token: str
) -> dict[str, object]:
    return {
        "req": removal_request,
        "form": form,
        "token": token,
        "attempts_left": services.attempts_left(removal_request),
    }


# --- Deletion receipts (docs/receipts.md) ----------------------------------------------------------
# The whole form post: a receipt pasted (percent-encoding can triple it) or uploaded, plus the token.
RECEIPT_POST_MAX_BYTES = 4 * RECEIPT_MAX_BYTES


def _receipt_too_large(request: HttpRequest, exc: UploadTooLarge | None = None) -> HttpResponse:
    limit = _("%(kilobytes)s KB") % {"kilobytes": RECEIPT_MAX_BYTES // 1024}
    form = ReceiptVerifyForm(
        data={},
        upload_refused=_(
            "This is larger than %(limit)s: not a deletion receipt, which is a few KB. Check the file."
        )
        % {"limit": limit},
    )
    form.is_valid()
    return render(request, "removal/receipt_verify.html", {"form": form}, status=413)


def _receipt_body_cap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse an oversized post by its Content-Length, before anything (CSRF included) reads the body.

    Wraps a `memory_only_uploads` view, which is csrf_exempt for the middleware and checks CSRF itself
    once its upload handler is installed; `wraps` carries that mark over to this wrapper.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > RECEIPT_POST_MAX_BYTES:
            return _receipt_too_large(request)
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@ratelimit(key="ip", rate=_rate("RECEIPT_VERIFY_RATE_PER_IP"), method="POST", block=False)
@_receipt_body_cap
@memory_only_uploads(
    max_file_bytes=RECEIPT_MAX_BYTES,
    max_total_bytes=RECEIPT_MAX_BYTES,
    max_files=1,
    on_reject=_receipt_too_large,
)
@require_http_methods(["GET", "POST"])
def receipt_verify_page(request: HttpRequest) -> HttpResponse:
    """Anyone checks a receipt's signature. Nothing is looked up or stored: the answer cannot tell
    whether a reference exists, and it works after the request's personal data is shredded."""
    if request.method == "POST" and getattr(request, "limited", False):
        messages.error(request, _("Too many checks from this address. Please try again in an hour."))
        return render(request, "removal/receipt_verify.html", {"form": ReceiptVerifyForm()}, status=429)
    form = ReceiptVerifyForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    if request.method == "GET":
        return render(request, "removal/receipt_verify.html", {"form": form})
    if not form.is_valid():
        return render(request, "removal/receipt_verify.html", {"form": form}, status=400)
    try:
        public_keys = configured_public_keys()
    except KeyConfigurationError:
        public_keys = {}  # a development machine without a key: every receipt names an unknown key
    check = receipt_verify(form.cleaned_data["receipt"], public_keys=public_keys)
    categories = (
        [(category_label(code), items) for code, items in check.contents.categories] if check.contents else []
    )
    context = {"form": form, "check": check, "receipt": check.contents, "categories": categories}
    return render(request, "removal/receipt_verify.html", context)


@require_GET
def receipt_public_keys(request: HttpRequest) -> HttpResponse:
    """{key id: base64 raw Ed25519 public key}: every key a receipt may name, for offline checking."""
    try:
        keys = configured_public_keys()
    except KeyConfigurationError:
        return JsonResponse({"detail": "no signing key is configured"}, status=503)
    response = JsonResponse(public_keys_to_json(keys))
    response["Cache-Control"] = "public, max-age=3600"
    # Public data: a verifier running in someone else's web page may fetch it.
    response["Access-Control-Allow-Origin"] = "*"
    return response
