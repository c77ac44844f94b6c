from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class RequestNote(models.Model):
    """A staff member's internal note on a request, sealed with the request's data key (it may name
    the subject): unreadable once the key is shredded, deleted when the record is minimised."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey("removal.RemovalRequest", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    body_enc = models.BinaryField()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["request", "created_at"], name="removal_note_request_time")]

    def __str__(self) -> str:
        return f"note {self.id} on {self.request_id}"
