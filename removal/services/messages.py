"""Messages staff send the subject from a set of templates, in the subject's language, through the
outbox: no free text leaves (the words are ours, reviewed and translated), and each is on the record."""

from __future__ import annotations

from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from removal.models import RemovalRequest
from removal.permissions import Action, require
from removal.services.common import Actor, InvalidRequest, audit_request_event, notify_subject


class SubjectUpdate(models.TextChoices):
    WORKING = (
        "working",
        gettext_lazy("We are working on your request. We will write to you again as soon as we are done."),
    )
    CONFIRM_EMAIL = (
        "confirm_email",
        gettext_lazy(
            "We cannot go on until you confirm your e-mail address: please use the link in our first message."
        ),
    )
    INFORMATION_RECEIVED = (
        "information_received",
        gettext_lazy("We received the information you sent us and are checking it now."),
    )
    PHOTOS_UNDER_REVIEW = (
        "photos_under_review",
        gettext_lazy(
            "We found photos that may show you. Our team is reviewing them one by one before deleting them."
        ),
    )


def removal_request_message_subject(*, request: RemovalRequest, actor: Actor, update: str) -> None:
    """E-mail the subject one of the updates above. Refused once the request is closed or its
    personal data erased; the log records which update was sent, never the address."""
    require(actor, Action.WORK, request)
    if update not in SubjectUpdate.values:
        raise InvalidRequest({"update": [_("Choose one of the messages.")]})
    if not request.is_open or request.data_key.is_shredded:
        raise InvalidRequest({"update": [_("This request is closed: no more messages to the subject.")]})
    with transaction.atomic():
        notify_subject(
            request=request, template="staff_update", context={"update": SubjectUpdate(update).label}
        )
        audit_request_event(request.id, "subject_messaged", actor=actor, details={"update": update})
