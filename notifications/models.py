from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Message(models.Model):
    """One outgoing e-mail, rendered when decided and sealed with its owner's data key.

    The row is written in the transaction that decides to send, so a crash can delay a message but
    never lose it; the delivery task only gets the id.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.CharField(max_length=100)
    language = models.CharField(max_length=8, default="en")
    # Opaque pointer to whatever the message is about ("removal.request:<uuid>"), for staff views.
    about = models.CharField(max_length=100, blank=True, db_index=True)
    data_key = models.ForeignKey("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    recipient_enc = models.BinaryField()
    subject_enc = models.BinaryField()
    body_text_enc = models.BinaryField()
    body_html_enc = models.BinaryField()
    # Files sent with the message (a deletion receipt), sealed like the rest: JSON of
    # [{"filename", "mimetype", "content"}], or null for none.
    attachments_enc = models.BinaryField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Fails for good once `attempts` reaches this; a staff re-send raises it by another round.
    attempt_limit = models.PositiveSmallIntegerField()
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The sweeper's two questions: what is due, and whose lease ran out. Partial, so the
            # index stays as small as the backlog, however many messages were ever sent.
            models.Index(fields=["next_attempt_at"], name="notif_msg_due", condition=Q(status="pending")),
            models.Index(fields=["lease_expires_at"], name="notif_msg_leased", condition=Q(status="sending")),
        ]

    def __str__(self) -> str:
        return f"{self.template} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    """The delivery log: one row per attempt, with an error class and code but never content."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="notif_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"
