"""Suppression (opt-in): what is kept so that a consenting subject's face is refused at ingest.

Minimised on purpose (docs/purge.md, "Suppression"): one template per request, quantised to float16
and sealed; no reference, name, e-mail, photo or URL. The only link back to the request is a keyed
hash of its id, so the subject can still withdraw after their request's personal data was erased,
while someone reading the table (or a backup) cannot tell whose template a row is.
"""

from __future__ import annotations

import uuid

import numpy as np
from django.db import models
from django.db.models import Q

# What a template is once minimised: 128 little-endian float16 (256 bytes). Half the precision of
# the face index's embeddings changes distances by about 1e-3, far below any matching threshold.
TEMPLATE_DTYPE = np.dtype("<f2")
TEMPLATE_BYTES = 128 * TEMPLATE_DTYPE.itemsize


class SuppressionKey(models.Model):
    """The one service-wide data key that seals every template (a single row, id 1).

    Not the request's own key: that one is shredded when the request's personal data is erased,
    and the template must outlive it for its whole retention period.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    data_key = models.OneToOneField("vault.DataKey", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="removal_suppression_key_single")]

    def __str__(self) -> str:
        return "suppression data key"


class SuppressionEntry(models.Model):
    """One consenting subject's sealed template, kept until `expires_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # blind_index(request id, purpose="removal.suppression.request"): finds the entry for withdrawal
    # and keeps a request from having two; unreadable without the blind-index key.
    request_index = models.CharField(max_length=64, unique=True)
    # Which key sealed it (always the SuppressionKey's today): kept so a key rotation stays possible.
    data_key = models.ForeignKey("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    template_enc = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Indexed: the daily expiry deletes by it.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "suppression entries"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:  # an id only: never anything about the person
        return f"Suppression entry {self.id}"
