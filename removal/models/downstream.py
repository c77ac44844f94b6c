"""Downstream recipients and the notices they were sent (GDPR Art. 19, CCPA §7022(b)(3)).

`DownstreamRecipient`: someone the company passed photos to (a customer, a processor, a partner),
told about each erasure by a signed webhook or an e-mail. The webhook's HMAC secret is sealed with the
recipient's own data key (purpose "removal.downstream"); staff set and rotate it but never see it back.

`RecipientNotice`: the evidence that one recipient was told about one request, created when staff
approve the purge (`removal.targets.downstream`). Its payload lists the SHA-256 of the subject's photos,
which is personal data: it is sealed with the request's data key and becomes unreadable when the
request's personal data is shredded. The rest (status, attempts, HTTP status, response digest, dates)
is evidence that stays with the request record.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from removal.models.purge import PurgeJob
from removal.models.requests import RemovalRequest

# Webhook URLs can be long (tokens in the path); the same limit as a photo's source URL.
ENDPOINT_URL_MAX_LENGTH = 2048


class DownstreamRecipient(models.Model):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Signed webhook")
        EMAIL = "email", _("E-mail notice")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    endpoint_url = models.URLField(
        max_length=ENDPOINT_URL_MAX_LENGTH, blank=True, help_text="HTTPS URL the signed notice is POSTed to."
    )
    email = models.EmailField(blank=True, help_text="Address the notice is e-mailed to.")
    # Seals `secret_enc`; one per recipient, so a recipient's secret can be destroyed on its own.
    data_key = models.OneToOneField("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    secret_enc = models.BinaryField(null=True, blank=True, editable=False)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Inactive recipients are not planned for new purges; notices already planned are still sent.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="webhook") & ~Q(endpoint_url="")) | (Q(kind="email") & ~Q(email="")),
                name="removal_recipient_has_destination",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RecipientNotice(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Not delivered yet")
        DELIVERED = "delivered", _("Delivered")
        # The last attempt failed; the purge job tries again until its attempts run out.
        FAILED = "failed", _("Last attempt failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(RemovalRequest, on_delete=models.PROTECT, related_name="recipient_notices")
    recipient = models.ForeignKey(DownstreamRecipient, on_delete=models.PROTECT, related_name="notices")
    # The job that delivered it (None until its first attempt: notices are planned before the job exists).
    job = models.ForeignKey(PurgeJob, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Sent as the Idempotency-Key header: the same for every retry, so the recipient drops repeats.
    idempotency_key = models.CharField(max_length=200, unique=True)
    # The JSON body sent, sealed with the request's data key (photo digests are personal data).
    payload_enc = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Webhook POSTs made, or the outbox's delivery attempts for an e-mail notice.
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The exception's class only: messages quote URLs and addresses.
    last_error = models.CharField(max_length=200, blank=True)
    # The outbox message of an e-mail notice (notifications.Message id); created once.
    message_id = models.UUIDField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the recipient's response body: proof of what they answered without keeping it.
    response_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "recipient"], name="removal_notice_once"),
        ]

    def __str__(self) -> str:
        return f"Notice to {self.recipient_id} about {self.request_id}"
