from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from removal.deadlines import JURISDICTIONS


class Right(models.TextChoices):
    ERASURE = "erasure", "Erasure (delete my photos and data)"
    OPT_OUT = "opt_out", "Opt-out of sale or sharing"


class Channel(models.TextChoices):
    WEB = "web", "Web form"
    API = "api", "API"
    EMAIL = "email", "E-mail"
    POST = "post", "Post"
    PHONE = "phone", "Phone"


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    AWAITING_SUBJECT = "awaiting_subject", "Waiting for the subject"
    VERIFYING = "verifying", "Verifying identity"
    VERIFIED = "verified", "Identity verified"
    DISCOVERING = "discovering", "Searching for photos"
    AWAITING_REVIEW = "awaiting_review", "Matches under review"
    PURGING = "purging", "Deleting"
    COMPLETED = "completed", "Completed"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"


CLOSED_STATUSES = frozenset({Status.COMPLETED, Status.DENIED, Status.WITHDRAWN})
OPEN_STATUSES = frozenset(Status) - CLOSED_STATUSES


class DenialBasis(models.TextChoices):
    IDENTITY_NOT_VERIFIED = "identity_not_verified", "Identity could not be verified"
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", "Manifestly unfounded or excessive (GDPR Art. 12(5))"
    LEGAL_OBLIGATION = "legal_obligation", "Retention required by law (GDPR Art. 17(3)(b))"
    LEGAL_CLAIMS = "legal_claims", "Needed for legal claims (GDPR Art. 17(3)(e))"
    NO_RESPONSE = "no_response", "No response to our request for information"
    OTHER_EXEMPTION = "other_exemption", "Another statutory exemption (see note)"


class SubjectAsk(models.TextChoices):
    """What we asked the subject for: a code, so the audit trail never holds free text about a person."""

    IDENTITY = "identity", "Information to verify your identity"
    CLEARER_PHOTO = "clearer_photo", "A clearer photo of your face"
    CLARIFICATION = "clarification", "Clarification of your request"


JURISDICTION_CHOICES = [(code, j.name) for code, j in JURISDICTIONS.items()]


class RemovalRequest(models.Model):
    """A data subject's request. Personal fields are sealed with the request's own data key.

    `status` changes only through the transition services in `removal.services`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=16, unique=True, editable=False)
    right = models.CharField(max_length=16, choices=Right.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    language = models.CharField(max_length=8, default="en")
    received_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()

    data_key = models.OneToOneField("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    name_enc = models.BinaryField()
    email_enc = models.BinaryField()
    # Keyed hash of the normalised e-mail: finds duplicates without storing the address in clear.
    email_blind_index = models.CharField(max_length=64, db_index=True)
    email_confirmed_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the secret in the subject's status link; the link itself is only in their e-mail.
    status_token_hash = models.CharField(max_length=64, unique=True)

    denial_basis = models.CharField(max_length=32, choices=DenialBasis.choices, blank=True)
    denial_note_enc = models.BinaryField(null=True, blank=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    clock_started_at = models.DateTimeField(null=True, blank=True)
    acknowledge_by = models.DateTimeField(null=True, blank=True)
    respond_by = models.DateTimeField(null=True, blank=True)
    respond_by_extended = models.DateTimeField(null=True, blank=True)
    # Which jurisdiction's rule set each deadline: its reference zone decides the local due date.
    acknowledge_by_set_by = models.CharField(max_length=8, blank=True)
    respond_by_set_by = models.CharField(max_length=8, blank=True)
    respond_by_extended_set_by = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="removal_req_status_recv"),
            models.Index(fields=["respond_by"], name="removal_req_respond_by"),
        ]
        constraints = [
            # One open request per person and right; concurrent duplicates lose at the database.
            models.UniqueConstraint(
                fields=["email_blind_index", "right"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="removal_req_one_open_per_email_right",
            ),
            models.CheckConstraint(
                condition=Q(status=Status.DENIED, denial_basis__gt="") | ~Q(status=Status.DENIED),
                name="removal_req_denied_has_basis",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class RequestJurisdiction(models.Model):
    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="jurisdictions")
    code = models.CharField(max_length=8, choices=JURISDICTION_CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "code"], name="removal_req_jurisdiction_once")
        ]
        indexes = [models.Index(fields=["code", "request"], name="removal_jur_code_req")]

    def __str__(self) -> str:
        return self.code
