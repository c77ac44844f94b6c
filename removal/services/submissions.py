"""Public intake in two steps, so that its answer cannot tell a new address from one already known.

`intake_submit` runs inside the form's or the API's request: it checks the input (a bad one is answered
400 and stores nothing) and stores the submission sealed, the same work and the same queries whatever
the address. `intake_process` turns the submission into a request or a duplicate's notice
(removal.services.intake) and runs after the answer has been sent (`after_response`), in the same web
worker; the sweeper (`intake_sweep`, beat) processes what a crash left behind, so nothing submitted is
lost. Staff logging a letter need no such care and call removal_request_create directly.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpResponseBase
from django.utils import timezone

from notifications.services import message_create
from removal.models import IntakeSubmission
from removal.permissions import Action, require
from removal.services.common import SUBJECT, Actor, InvalidRequest
from removal.services.intake import DATA_KEY_PURPOSE, IntakeResult, removal_request_create, validate_intake
from vault.models import DataKey
from vault.services import data_key_create, sealer_for

logger = logging.getLogger(__name__)
_TABLE = IntakeSubmission._meta.db_table


def intake_submit(
    *,
    name: str,
    email: str,
    right: str,
    jurisdictions: list[str],
    channel: str,
    actor: Actor,
    language: str,
    suppression_consent: bool = False,
) -> IntakeSubmission:
    """Check a public submission and store it sealed; raises InvalidRequest (nothing stored)."""
    require(actor, Action.LOG_REQUEST)
    codes = sorted(set(jurisdictions))
    errors = validate_intake(name=name, email=email, right=right, jurisdictions=codes, channel=channel)
    if errors:
        raise InvalidRequest(errors)
    submission = IntakeSubmission(
        received_at=timezone.now(),
        channel=channel,
        language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
        data_key=data_key_create(purpose=DATA_KEY_PURPOSE),
    )
    payload = {
        "name": name,
        "email": email,
        "right": right,
        "jurisdictions": codes,
        "suppression_consent": bool(suppression_consent),
    }
    submission.payload_enc = sealer_for(submission.data_key).seal(
        json.dumps(payload), table=_TABLE, column="payload_enc", row_id=submission.id
    )
    submission.save(force_insert=True)
    return submission


def intake_process(*, submission_id: uuid.UUID, actor: Actor) -> IntakeResult | None:
    """Turn one submission into a request (or a duplicate's notice), once; None if it is gone already
    or another process holds it."""
    with transaction.atomic():
        submission = (
            IntakeSubmission.objects.select_for_update(skip_locked=True)
            .select_related("data_key")
            .filter(id=submission_id)
            .first()
        )
        if submission is None:
            return None
        payload = json.loads(
            sealer_for(submission.data_key).open(
                bytes(submission.payload_enc), table=_TABLE, column="payload_enc", row_id=submission.id
            )
        )
        result = removal_request_create(
            name=payload["name"],
            email=payload["email"],
            right=payload["right"],
            jurisdictions=payload["jurisdictions"],
            channel=submission.channel,
            actor=actor,
            language=submission.language,
            received_at=submission.received_at,
            suppression_consent=payload["suppression_consent"],
            data_key=submission.data_key,
        )
        data_key_id = submission.data_key_id
        submission.delete()
        if not result.created:
            # The duplicate's notice went to the open request; this key sealed only the submission.
            DataKey.objects.filter(id=data_key_id).delete()
    return result


def after_response(response: HttpResponseBase, work: Callable[[], object]) -> None:
    """Run `work` once the response has been sent (the WSGI server closes it after the last byte; so
    does Django's test client). A failure is logged, without its message, and left to the sweeper."""

    def run() -> None:
        try:
            work()
        except Exception as exc:
            logger.error("intake processing failed (%s); the sweeper will retry it", type(exc).__name__)

    # Django's own list of what close() calls (file handles of a FileResponse go there too).
    response._resource_closers.append(run)  # type: ignore[attr-defined]


class IntakeStuck(RuntimeError):
    """Submissions that failed INTAKE_MAX_ATTEMPTS times; kept (sealed), retried, and staff are told."""


def intake_process_after_answer(response: HttpResponseBase, submission: IntakeSubmission) -> None:
    """What the form and the API do with a stored submission: make it the subject's request (or a
    duplicate's notice) once their answer has been sent."""
    after_response(response, lambda: intake_process(submission_id=submission.id, actor=SUBJECT))


def intake_sweep(*, actor: Actor) -> int:
    """Process the submissions older than INTAKE_SWEEP_AFTER_SECONDS (left by a crash or a failure
    after the answer was sent), oldest first; the number processed.

    A submission that fails is kept and tried again at the next sweep: a person's request never
    vanishes. When one reaches INTAKE_MAX_ATTEMPTS failures, staff are e-mailed (once, at that try) and
    the sweep raises IntakeStuck, so the task fails where operators look.
    """
    due = timezone.now() - timedelta(seconds=settings.INTAKE_SWEEP_AFTER_SECONDS)
    waiting = IntakeSubmission.objects.filter(received_at__lt=due).order_by("received_at")
    processed, stuck = 0, 0
    for submission_id in waiting.values_list("id", flat=True)[:1000]:
        IntakeSubmission.objects.filter(id=submission_id).update(attempts=F("attempts") + 1)
        try:
            if intake_process(submission_id=submission_id, actor=actor) is not None:
                processed += 1
        except Exception as exc:  # one bad submission must not hold up the others
            logger.error("intake sweep: a submission failed again (%s)", type(exc).__name__)
            attempts = (
                IntakeSubmission.objects.filter(id=submission_id).values_list("attempts", flat=True).first()
            )
            stuck += attempts == settings.INTAKE_MAX_ATTEMPTS
    if stuck:
        _alert_staff(stuck)
        raise IntakeStuck(f"{stuck} public submission(s) failed {settings.INTAKE_MAX_ATTEMPTS} times")
    return processed


def _alert_staff(count: int) -> None:
    with transaction.atomic():
        message_create(
            template="removal/emails/intake_stuck",
            to=settings.PRIVACY_TEAM_EMAIL,
            context={"count": count, "attempts": settings.INTAKE_MAX_ATTEMPTS},
            data_key=data_key_create(purpose="removal.intake_alert"),
            language=settings.LANGUAGE_CODE,
            about="removal.intake",
        )
