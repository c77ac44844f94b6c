"""Staff looking at a request's personal data: allowed by role, and on the record with a reason.

A staff member opens a viewing window on one request (name, address, headshot, candidate photos)
by giving a reason; that is one audit event, however many pages and images they load while the
window lasts (`removal.viewing` keeps it in their session). The reason is a code, never free text:
the audit log is public and must hold no personal data.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from removal.models import RemovalRequest
from removal.permissions import Action, require
from removal.services.common import Actor, InvalidRequest, audit_request_event


class ViewReason(models.TextChoices):
    WORKING = "working", gettext_lazy("Working on this request")
    IDENTITY_REVIEW = "identity_review", gettext_lazy("Reviewing the subject's identity")
    CANDIDATE_REVIEW = "candidate_review", gettext_lazy("Reviewing the photos found")
    SUBJECT_CONTACT = "subject_contact", gettext_lazy("Answering the subject")
    AUDIT = "audit", gettext_lazy("Audit, complaint or a regulator's question")
    LEGAL = "legal", gettext_lazy("Legal claim or a court or police order")


def removal_request_record_personal_data_view(*, request: RemovalRequest, actor: Actor, reason: str) -> None:
    """Record that `actor` opened the request's personal data, and why. Refused without a reason or
    a role that allows it; nothing is recorded then."""
    if reason not in ViewReason.values:
        raise InvalidRequest({"reason": [_("Say why you need to see this person's data.")]})
    require(actor, Action.VIEW_PERSONAL_DATA, request)
    with transaction.atomic():
        audit_request_event(request.id, "personal_data_viewed", actor=actor, details={"reason": reason})
