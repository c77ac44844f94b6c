"""Staff pages of the find-and-purge step, inside the admin: review discovery's candidates beside the
headshot, approve the purge, and watch (and retry) its jobs.

Views are thin: decisions go through `removal.services.discovery.candidates_decide`, approval through
`removal.services.purge.purge_approve`, retries through `purge_job_retry`.
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, ImageDraw

from identity import selectors as identity_selectors
from removal import services
from removal.models import Candidate, PurgeJob, RemovalRequest, Status
from removal.permissions import Action, NotAllowed, allowed
from removal.services.discovery import candidates_decide
from removal.services.purge import purge_approve, purge_job_retry, second_approver_needed
from removal.viewing import viewing_is_open

CANDIDATES_PER_PAGE = 100
_DECISIONS = [
    (Candidate.Decision.CONFIRMED, gettext_lazy("The subject")),
    (Candidate.Decision.REJECTED, gettext_lazy("Someone else")),
    (Candidate.Decision.PENDING, gettext_lazy("Not decided")),
]
# Bulk buttons: which candidates they decide, and how.
_BULK = {
    "confirm_unflagged": ({"lookalike": False}, Candidate.Decision.CONFIRMED),
    "reject_flagged": ({"lookalike": True}, Candidate.Decision.REJECTED),
    "confirm_all": ({}, Candidate.Decision.CONFIRMED),
    "reject_all": ({}, Candidate.Decision.REJECTED),
}


def review_view(model_admin: Any, request: HttpRequest, pk: str) -> HttpResponse:
    """The admin's review page (superusers; staff work in the workspace's, workspace.review_views)."""
    admin_context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta}
    return review_page(
        request,
        pk,
        url_name="admin:removal_review",
        template="admin/removal/removalrequest/review.html",
        extra_context=admin_context,
    )


def review_page(
    request: HttpRequest, pk: Any, *, url_name: str, template: str, extra_context: dict[str, Any]
) -> HttpResponse:
    """Review discovery's candidates (GET), or record decisions, an approval or a retry (POST, then
    back to `url_name`). The page is `template`, given the context below and `extra_context`."""
    obj = get_object_or_404(RemovalRequest.objects.select_related("data_key", "purge_first_approver"), pk=pk)
    if not allowed(request.user, Action.VIEW, obj):
        raise PermissionDenied(str(NotAllowed(Action.VIEW, obj.reference)))
    url = reverse(url_name, args=[obj.pk])
    actor = services.Actor.staff(request.user)
    if request.method == "POST":
        try:
            if "approve" in request.POST and not request.POST.get("confirm"):
                messages.error(request, _("Tick the box to confirm: a purge cannot be undone."))
            elif "approve" in request.POST:
                purge_approve(request=obj, actor=actor)
                obj.refresh_from_db()
                if obj.status == Status.AWAITING_REVIEW:
                    waiting = _(
                        "%(reference)s: your approval is recorded; a second privacy lead must approve."
                    )
                    messages.success(request, waiting % {"reference": obj.reference})
                else:
                    approved = _("%(reference)s: purge approved; the jobs are running.")
                    messages.success(request, approved % {"reference": obj.reference})
            elif "retry" in request.POST:
                job = get_object_or_404(PurgeJob, pk=request.POST["retry"], request=obj)
                if purge_job_retry(job=job, actor=actor):
                    messages.success(request, _("%(target)s: retrying.") % {"target": job.target})
            else:
                changed = candidates_decide(
                    request=obj,
                    actor=actor,
                    decisions=_posted_decisions(request, obj),
                    user=request.user if isinstance(request.user, User) else None,
                )
                messages.success(request, _("%(count)d decision(s) recorded.") % {"count": changed})
        except services.InvalidRequest as exc:
            for errors in exc.errors.values():
                for error in errors:
                    messages.error(request, error)
        except (services.IllegalTransition, NotAllowed) as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(f"{url}?page={request.POST.get('page', '1')}")

    candidates = Candidate.objects.filter(request=obj).select_related("face", "face__photo")
    page = Paginator(candidates, CANDIDATES_PER_PAGE).get_page(request.GET.get("page"))
    counts = {d: candidates.filter(decision=d).count() for d, _ in _DECISIONS}
    jobs = list(PurgeJob.objects.filter(request=obj).order_by("created_at", "target"))
    confirmed = counts[Candidate.Decision.CONFIRMED]
    context = {
        **extra_context,
        "original": obj,
        "title": f"Review and purge: {obj.reference}",
        "page": page,
        "decisions": _DECISIONS,
        "counts": counts,
        "total": sum(counts.values()),
        "flagged": candidates.filter(lookalike=True).count(),
        "can_decide": obj.status == Status.AWAITING_REVIEW and allowed(request.user, Action.WORK, obj),
        "can_approve": obj.status == Status.AWAITING_REVIEW
        and counts[Candidate.Decision.PENDING] == 0
        and allowed(request.user, Action.APPROVE_PURGE, obj),
        "confirmed": confirmed,
        "second_approver_needed": second_approver_needed(confirmed_photos=confirmed),
        "first_approver": obj.purge_first_approver,
        "first_approved_by_me": obj.purge_first_approver_id == request.user.pk,
        # Photos and headshot only inside the reviewer's viewing window (opened with a reason, audited).
        "viewing": viewing_is_open(request, obj),
        "may_view_personal_data": allowed(request.user, Action.VIEW_PERSONAL_DATA, obj),
        "view_reasons": services.ViewReason.choices,
        "has_headshot": obj.status == Status.AWAITING_REVIEW
        and identity_selectors.has_headshot_probe(subject_ref=services.subject_ref(obj)),
        "jobs": jobs,
        "purging": obj.status == Status.PURGING,
    }
    return TemplateResponse(request, template, context)


def _posted_decisions(request: HttpRequest, obj: RemovalRequest) -> dict[int, str]:
    bulk = request.POST.get("bulk", "")
    if bulk in _BULK:
        filters, decision = _BULK[bulk]
        ids = Candidate.objects.filter(request=obj, **filters).values_list("id", flat=True)
        return dict.fromkeys(ids, decision)
    decisions: dict[int, str] = {}
    for name in request.POST:
        if name.startswith("c-"):
            try:
                decisions[int(name[2:])] = request.POST.get(name, "")
            except ValueError:
                raise services.InvalidRequest({"candidates": [_("Unknown candidate.")]}) from None
    return decisions


def candidate_thumbnail_view(request: HttpRequest, pk: Any, candidate_id: int) -> HttpResponse:
    """The candidate's photo as a thumbnail, with the matched face outlined (a group photo has several)."""
    candidate = get_object_or_404(
        Candidate.objects.select_related("face", "face__photo", "request"), pk=candidate_id, request_id=pk
    )
    if not viewing_is_open(request, candidate.request):
        raise PermissionDenied("open this request's personal data first, with a reason")
    face, photo = candidate.face, candidate.face.photo
    try:
        with default_storage.open(photo.thumbnail_key, "rb") as handle:
            thumbnail = Image.open(io.BytesIO(handle.read())).convert("RGB")
    except FileNotFoundError:
        raise Http404("the thumbnail is gone") from None
    scale = thumbnail.width / photo.width
    box = [round(v * scale) for v in (face.left, face.top, face.right, face.bottom)]
    ImageDraw.Draw(thumbnail).rectangle(box, outline=(255, 196, 0), width=max(2, thumbnail.width // 100))
    out = io.BytesIO()
    thumbnail.save(out, format="JPEG", quality=85)
    response = HttpResponse(out.getvalue(), content_type="image/jpeg")
    response["Cache-Control"] = "no-store, private"
    return response
