from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One link of the hash chain. Insert-only: a PostgreSQL trigger refuses UPDATE and DELETE.

    `payload` is the canonical JSON that was hashed; the other columns repeat parts of it for
    queries, and the chain check compares them with it.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    payload = models.TextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "seq"], name="removal_audit_object")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"
