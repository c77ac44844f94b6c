"""What identity verification keeps: derived facts and the encrypted headshot probe, never the ID photo.

Rows name their subject through an opaque `subject_ref` ("removal.request:<uuid>"): this app knows
nothing of removal requests or their states.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class VerificationRecord(models.Model):
    """One verification attempt, or a staff decision on one, as derived facts only.

    Never the image, a hash of it, the text read from it, or the document number (only its keyed
    hash, to spot one document used for several people).
    """

    class Method(models.TextChoices):
        DOCUMENT_AND_HEADSHOT = "document_and_headshot", "Identity document and headshot"
        HEADSHOT_AND_EMAIL = "headshot_and_email", "Headshot and confirmed e-mail"
        STAFF_REVIEW = "staff_review", "Decision by privacy staff"

    class Outcome(models.TextChoices):
        VERIFIED = "verified", "Verified"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_ref = models.CharField(max_length=100, db_index=True)
    method = models.CharField(max_length=32, choices=Method.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # [{"code": ..., "message": ...}]: what the subject is told to do, in words they can act on.
    reasons = models.JSONField(default=list)
    face_distance = models.FloatField(null=True, blank=True)
    name_match_score = models.FloatField(null=True, blank=True)
    document_type = models.CharField(max_length=8, blank=True)
    issuing_state = models.CharField(max_length=3, blank=True)
    expiry_valid = models.BooleanField(null=True)
    check_digits_valid = models.BooleanField(null=True)
    document_number_hash = models.CharField(max_length=64, blank=True, db_index=True)
    policy_version = models.CharField(max_length=32)
    # Which evidence the deployment's policy asked for, as in force at the time.
    evidence_required = models.JSONField(default=dict)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.get_method_display()}: {self.outcome}"


class HeadshotProbe(models.Model):
    """The subject's headshot and its embedding, sealed with their data key.

    A probe, not an enrolment: it searches the face index and is never added to it, is shown only to
    staff reviewing candidates, and is destroyed when the purge completes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_ref = models.CharField(max_length=100, unique=True)
    data_key = models.ForeignKey("vault.DataKey", on_delete=models.PROTECT, related_name="+")
    # Random name in the storage backend: nothing about the subject is in it.
    storage_name = models.CharField(max_length=200)
    embedding_enc = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"headshot probe {self.id}"
