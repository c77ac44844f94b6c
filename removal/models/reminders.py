from __future__ import annotations

from django.db import models
from django.db.models import Q


class DeadlineKind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge_by", "Acknowledgement"
    RESPOND = "respond_by", "Response"
    RESPOND_EXTENDED = "respond_by_extended", "Extended response"
    # Not a deadline of its own: the last day an extension can still be taken (D-7 before respond_by).
    EXTENSION_DECISION = "extension_decision", "Extension decision"


class Reminder(models.Model):
    """One planned reminder to staff: a (request, deadline, point) that is sent at most once.

    Rows are planned in the transaction that sets the deadline, so the sweep only has to read what is
    due: its query follows the partial index below and never scans open requests.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        # The deadline was met (request closed, acknowledgement delivered) or moved before this was due.
        CANCELLED = "cancelled", "Cancelled"

    # No index of its own: the unique constraint below starts with this column and serves its lookups.
    request = models.ForeignKey(
        "removal.RemovalRequest", on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    deadline = models.CharField(max_length=24, choices=DeadlineKind.choices)
    # Days before the due day (14, 7, 3, 1); negative once overdue (-1 is the first day late, -2 …).
    days_before = models.SmallIntegerField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipient_kind = models.CharField(max_length=10, blank=True)  # "assignee" or "team", for the record

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "deadline", "days_before"], name="removal_reminder_once"
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], name="removal_reminder_due", condition=Q(status="pending")),
            models.Index(
                fields=["lease_expires_at"], name="removal_reminder_leased", condition=Q(status="sending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deadline} {self.point_label}"

    @property
    def point_label(self) -> str:
        if self.days_before > 0:
            return f"D-{self.days_before}"
        return f"overdue day {-self.days_before}"
