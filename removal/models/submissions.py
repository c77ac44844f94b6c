"""A public submission waiting to become a request (or a duplicate's notice): removal.services.submissions.

The form and the API store one and answer at once; the work that differs between a new address and
one with an open request runs after the answer has been sent, so its timing cannot tell an outsider
which it was. The row is the guarantee that nothing is lost between the answer and that work.
"""

from __future__ import annotations

import uuid

from django.db import models


class IntakeSubmission(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField()
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=8)
    # The key the request will use if it is new (a duplicate's is deleted with the submission).
    data_key = models.ForeignKey("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    # Sealed JSON: name, e-mail, right, jurisdictions, suppression consent.
    payload_enc = models.BinaryField()
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="removal_submission_received")]

    def __str__(self) -> str:
        return f"submission {self.id}"
