from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from removal.deadlines import JURISDICTIONS
from removal.permissions import PERMISSIONS


class Right(models.TextChoices):
    ERASURE = "erasure", _("Erasure (delete my photos and data)")
    OPT_OUT = "opt_out", _("Opt-out of sale or sharing")


class Channel(models.TextChoices):
    WEB = "web", _("Web form")
    API = "api", _("API")
    EMAIL = "email", _("E-mail")
    POST = "post", _("Post")
    PHONE = "phone", _("Phone")


class Status(models.TextChoices):
    RECEIVED = "received", _("Received")
    AWAITING_SUBJECT = "awaiting_subject", _("Waiting for the subject")
    VERIFYING = "verifying", _("Verifying identity")
    # "Checked", not "identity verified": a headshot and a confirmed address check no identity
    # (removal/identity_check.py names the method where a request is shown on its own).
    VERIFIED = "verified", _("Checked")
    DISCOVERING = "discovering", _("Searching for photos")
    AWAITING_REVIEW = "awaiting_review", _("Matches under review")
    PURGING = "purging", _("Deleting")
    COMPLETED = "completed", _("Completed")
    DENIED = "denied", _("Denied")
    WITHDRAWN = "withdrawn", _("Withdrawn")


CLOSED_STATUSES = frozenset({Status.COMPLETED, Status.DENIED, Status.WITHDRAWN})
OPEN_STATUSES = frozenset(Status) - CLOSED_STATUSES


class DenialBasis(models.TextChoices):
    IDENTITY_NOT_VERIFIED = "identity_not_verified", _("Identity could not be verified")
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("Manifestly unfounded or excessive")
    LEGAL_OBLIGATION = "legal_obligation", _("We are required by law to keep the data")
    LEGAL_CLAIMS = "legal_claims", _("The data is needed to establish or defend legal claims")
    NO_RESPONSE = "no_response", _("No response to our request for information")
    OTHER_EXEMPTION = "other_exemption", _("Another exemption provided by law")


class SubjectAsk(models.TextChoices):
    """What we asked the subject for: a code, so the audit trail never holds free text about a person."""

    IDENTITY = "identity", _("Information to verify your identity")
    CLEARER_PHOTO = "clearer_photo", _("A clearer photo of your face")
    CLARIFICATION = "clarification", _("Clarification of your request")


class IdentityDoubt(models.TextChoices):
    """Why we doubt who the requester is: recorded when asking for identity information. Under the EU
    soft-pause policy the clock restarts only where such a reason was recorded."""

    EMAIL_NOT_CONFIRMED = "email_not_confirmed", _("E-mail address not confirmed")
    DETAILS_CONFLICT = "details_conflict", _("Details conflict with what we hold")
    THIRD_PARTY = "third_party", _("Request may come from someone else")
    HIGH_RISK = "high_risk", _("Erasure of biometric data: identity must be certain")


class ExtensionReason(models.TextChoices):
    COMPLEXITY = "complexity", _("The request is complex")
    NUMBER_OF_REQUESTS = "number_of_requests", _("We are handling many requests from you")
    VOLUME_OF_DATA = "volume_of_data", _("A large number of photos must be searched and reviewed")


JURISDICTION_CHOICES = [(code, _(j.name)) for code, j in JURISDICTIONS.items()]


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
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_removal_requests",
        help_text="Receives this request's deadline reminders; the privacy team address does when empty.",
    )
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A large purge needs two privacy leads (PURGE_SECOND_APPROVER_FROM): the first approval waits
    # here until a different lead approves; a changed candidate decision cancels it.
    purge_first_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    purge_first_approved_at = models.DateTimeField(null=True, blank=True)

    # Identity information we asked for: GB's clock (and, under the soft-pause policy, the EU's)
    # starts when it arrives.
    # What we last asked the subject for (while awaiting_subject), named in our notice to them.
    pending_ask = models.CharField(max_length=20, choices=SubjectAsk.choices, blank=True)
    identity_requested_at = models.DateTimeField(null=True, blank=True)
    identity_received_at = models.DateTimeField(null=True, blank=True)
    identity_doubt = models.CharField(max_length=32, choices=IdentityDoubt.choices, blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.CharField(max_length=32, choices=ExtensionReason.choices, blank=True)

    # Opt-in suppression: keep a minimised template after the purge so the face is refused at ingest.
    # The subject may change it until the purge is approved (the template is made then) and withdraw
    # it afterwards (removal.services.suppression).
    suppression_consent = models.BooleanField(default=False)
    suppression_consent_at = models.DateTimeField(null=True, blank=True)

    # Set when the record was minimised, REQUEST_RECORD_RETENTION_MONTHS after the request closed
    # (removal.services.retention): what is left is the reference, right, channel, dates and outcome.
    record_minimised_at = models.DateTimeField(null=True, blank=True)

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
        permissions = PERMISSIONS
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

    @property
    def response_due(self) -> datetime | None:
        """The response deadline in force: the extended one once an extension was taken."""
        return self.respond_by_extended if self.extended_at else self.respond_by


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


class StatusLink(models.Model):
    """A further status link for a request, e-mailed when the same address submits again.

    The request's own `status_token_hash` is the first link and is never replaced by a duplicate
    submission: anyone can type someone's address, so a duplicate must not cut the subject off.
    Only the newest few further links are kept (intake prunes the rest), so a flood stays bounded.
    """

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="status_links")
    # SHA-256 of the link's secret, like RemovalRequest.status_token_hash.
    token_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["request", "-issued_at"], name="status_link_request_newest")]

    def __str__(self) -> str:
        return f"status link {self.id} of {self.request_id}"
