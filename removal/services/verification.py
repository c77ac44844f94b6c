"""The subject proves who they are: proportionate evidence, in-memory checks, a derived-facts record.

What is asked for depends on the request (`evidence_required`): nothing for an opt-out (CCPA §7026
forbids verifying it), a headshot and a confirmed e-mail address for an erasure (the headshot is
needed anyway to find the photos), plus an identity document only where the deployment's policy says
so. The ID photo is consumed in memory by `identity.pipeline` and never stored; what is kept is an
`identity.VerificationRecord` of derived facts and the sealed headshot probe.

Moves: received / awaiting_subject ─▶ verifying ─▶ verified (all checks pass)
                                                ├▶ awaiting_subject (failed, attempts left: retake)
                                                └─ stays verifying (inconclusive, or no attempts left:
                                                   privacy staff decide from the derived facts)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from identity import pipeline
from identity import selectors as identity_selectors
from identity import services as identity_services
from identity.decision import Reason
from identity.errors import VerificationInputError
from identity.models import VerificationRecord
from removal.models import DenialBasis, RemovalRequest, Right, Status, SubjectAsk
from removal.permissions import Action, require
from removal.selectors import removal_request_pii
from removal.services.common import Actor, IllegalTransition, InvalidRequest, audit_request_event, subject_ref
from removal.services.lifecycle import (
    removal_request_ask_subject,
    removal_request_deny,
    removal_request_start_verification,
    removal_request_verify,
)

_CAN_SUBMIT = frozenset({Status.RECEIVED, Status.AWAITING_SUBJECT})


@dataclass(frozen=True)
class Evidence:
    headshot: bool
    document: bool
    email_confirmed: bool

    def as_dict(self) -> dict[str, bool]:
        return {"headshot": self.headshot, "document": self.document, "email_confirmed": self.email_confirmed}


def evidence_required(request: RemovalRequest) -> Evidence:
    """What this request's subject must provide, under the deployment's policy."""
    if request.right == Right.OPT_OUT:
        return Evidence(headshot=False, document=False, email_confirmed=False)
    wanted = set(settings.IDENTITY_DOCUMENT_REQUIRED_IN)
    codes = {j.code for j in request.jurisdictions.all()}
    return Evidence(headshot=True, document="*" in wanted or bool(wanted & codes), email_confirmed=True)


def attempts_left(request: RemovalRequest) -> int:
    used = identity_selectors.verification_attempts(subject_ref=subject_ref(request))
    return max(settings.IDENTITY_MAX_ATTEMPTS - used, 0)


def removal_request_submit_identity(
    *, request: RemovalRequest, headshot: bytes, document: bytes | None, actor: Actor
) -> VerificationRecord:
    """Check the subject's photos in memory, keep the derived facts, and move the request on.

    Photos that must be retaken (not an image, no face, several faces, too large) raise
    `InvalidRequest` naming the upload, and nothing is stored.
    """
    evidence = evidence_required(request)
    if not evidence.headshot:
        raise InvalidRequest({"headshot": [_("This request needs no proof of identity.")]})
    if request.status not in _CAN_SUBMIT:
        raise IllegalTransition(reference=request.reference, move="submit_identity", status=request.status)
    if evidence.email_confirmed and request.email_confirmed_at is None:
        raise InvalidRequest(
            {"headshot": [_("First confirm your e-mail address with the link we sent you.")]}
        )
    if evidence.document and not document:
        raise InvalidRequest({"document": [_("Add a photo of your identity document.")]})
    remaining = attempts_left(request)
    if remaining == 0:
        raise InvalidRequest(
            {"headshot": [_("You have used every attempt. Our privacy team will contact you.")]}
        )

    policy = pipeline.policy_from_settings()
    # The slow, in-memory part runs outside any transaction: no lock is held while OCR runs.
    try:
        if evidence.document and document:
            result = pipeline.verify_identity(
                headshot=headshot,
                document=document,
                typed_name=removal_request_pii(request=request).name,
                today=timezone.localdate(),
                policy=policy,
            )
            method = VerificationRecord.Method.DOCUMENT_AND_HEADSHOT
        else:
            result = pipeline.verify_headshot(headshot=headshot, policy=policy)
            method = VerificationRecord.Method.HEADSHOT_AND_EMAIL
    except VerificationInputError as exc:
        raise InvalidRequest({exc.upload or "headshot": [_(exc.message)]}) from None
    finally:
        # The uploads are not needed past this point; drop our references to the ID photo at once.
        del headshot, document

    ref = subject_ref(request)
    outcome = result.decision.outcome
    with identity_services.sealed_files_discarded_on_rollback(), transaction.atomic():
        if request.status != Status.VERIFYING:
            request = removal_request_start_verification(request=request, actor=actor)
        record = identity_services.verification_record_create(
            subject_ref=ref,
            method=method,
            decision=result.decision,
            outcome=outcome,
            evidence_required=evidence.as_dict(),
            document_number=result.document_number,
        )
        identity_services.headshot_probe_store(
            subject_ref=ref,
            data_key=request.data_key,
            jpeg=result.headshot_jpeg,
            embedding=result.headshot_embedding,
        )
        audit_request_event(
            request.id,
            "identity_attempt",
            actor=actor,
            details={
                "record": str(record.id),
                "method": method,
                "outcome": outcome,
                "reasons": [reason.code for reason in result.decision.reasons],
                "policy": result.decision.policy_version,
            },
        )
        if outcome == "verified":
            request = removal_request_verify(request=request, actor=actor, method=method)
        elif outcome == "failed" and remaining > 1:
            request = removal_request_ask_subject(request=request, actor=actor, ask=SubjectAsk.CLEARER_PHOTO)
        # Inconclusive, or failed with no attempt left: the request waits in `verifying` for staff.
    return record


class StaffIdentityFinding(models.TextChoices):
    """Why staff decided an identity check the automatic checks could not: a code, never free text."""

    FACE_MATCHES_ON_REVIEW = "face_matches_on_review", "The faces match on review"
    NAME_MATCHES_ON_REVIEW = "name_matches_on_review", "The names match on review (transliteration, OCR)"
    CONFIRMED_OTHERWISE = "confirmed_otherwise", "Identity confirmed by other means (recorded elsewhere)"
    FACE_DOES_NOT_MATCH = "face_does_not_match", "The faces do not match"
    DOCUMENT_NOT_VALID = "document_not_valid", "The document is not valid"


_FINDINGS_THAT_VERIFY = frozenset(
    {
        StaffIdentityFinding.FACE_MATCHES_ON_REVIEW,
        StaffIdentityFinding.NAME_MATCHES_ON_REVIEW,
        StaffIdentityFinding.CONFIRMED_OTHERWISE,
    }
)


def removal_request_decide_identity(*, request: RemovalRequest, actor: Actor, finding: str) -> RemovalRequest:
    """Privacy staff decide a case the checks left open, from the derived facts and the headshot alone.

    A finding that verifies moves the request to `verified`; one that does not denies it on the basis
    that identity could not be verified (the subject is told, with the right to complain).
    """
    if finding not in StaffIdentityFinding.values:
        raise InvalidRequest({"finding": [_("Choose what the review found.")]})
    verified = finding in _FINDINGS_THAT_VERIFY
    # A finding that does not verify denies the request: a denial is the lead's to decide.
    require(actor, Action.WORK if verified else Action.DENY, request)
    if request.status != Status.VERIFYING:
        raise IllegalTransition(reference=request.reference, move="decide_identity", status=request.status)
    with transaction.atomic():
        record = identity_services.verification_record_create(
            subject_ref=subject_ref(request),
            method=VerificationRecord.Method.STAFF_REVIEW,
            decision=None,
            outcome=VerificationRecord.Outcome.VERIFIED if verified else VerificationRecord.Outcome.FAILED,
            evidence_required=evidence_required(request).as_dict(),
            reasons=(Reason(finding, str(StaffIdentityFinding(finding).label)),),
            decided_by=User.objects.filter(pk=actor.id).first() if actor.kind == "staff" else None,
        )
        audit_request_event(
            request.id,
            "identity_decided",
            actor=actor,
            details={"record": str(record.id), "finding": finding, "outcome": record.outcome},
        )
        if verified:
            return removal_request_verify(
                request=request, actor=actor, method=VerificationRecord.Method.STAFF_REVIEW
            )
        return removal_request_deny(request=request, actor=actor, basis=DenialBasis.IDENTITY_NOT_VERIFIED)
