"""Candidate review in the workspace: discovery's photos beside the subject's headshot, decided one by
one (with the keyboard) or in bulk, then the purge approved and followed. The decisions, approvals and
retries are removal.staff_review's, as in the admin; this is the workspace's page for them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from removal import staff_review
from workspace.access import staff_page


@staff_page
def review_view(request: HttpRequest, pk: Any) -> HttpResponse:
    return staff_review.review_page(
        request, pk, url_name="workspace:review", template="workspace/review.html", extra_context={}
    )


@staff_page
def thumbnail_view(request: HttpRequest, pk: Any, candidate_id: int) -> HttpResponse:
    return staff_review.candidate_thumbnail_view(request, pk, candidate_id)
