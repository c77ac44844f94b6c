"""Discovery's candidates and the purge's jobs.

`Candidate`: an indexed face that discovery found near the subject's headshot, waiting for a staff
decision. It links a request to photos of (probably) its subject, so it lives only as long as the
request is being worked: confirmed ones go with their faces in the purge, the rest with the headshot.

`PurgeJob`: one row per purge target (`removal.targets`) and request, created in the transaction that
approved the purge. The row is the job: Celery only wakes it up, a beat sweeper wakes it up again when
the broker lost the message or its worker died, and `done` records how far along its `plan` it got, so
a new worker carries on where the last one stopped.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from removal.models.face_index import Face
from removal.models.requests import RemovalRequest


class Candidate(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", _("Not decided")
        CONFIRMED = "confirmed", _("The subject")
        REJECTED = "rejected", _("Someone else")

    id = models.BigAutoField(primary_key=True)
    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="candidates")
    # The purge deletes confirmed faces; their candidate rows go with them.
    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="+")
    distance = models.FloatField()
    # Far closer to faces that did not match the probe than to the probe: likely someone else.
    lookalike = models.BooleanField(default=False)
    # Mean distance to those nearest non-matching faces (the look-alike guard's evidence), if any.
    lookalike_distance = models.FloatField(null=True, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["distance", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "face"], name="removal_candidate_once")]
        indexes = [models.Index(fields=["request", "decision"], name="removal_candidate_decision")]

    def __str__(self) -> str:
        return f"Candidate face {self.face_id} ({self.distance:.3f})"


class PurgeJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Phase(models.TextChoices):
        # Must be done before the request is completed.
        PURGE = "purge", _("Purge")
        # Runs once the request is completed (and its retention period has passed): the request's
        # own personal data, which the completion notice still needs.
        AFTER_COMPLETION = "after_completion", _("After completion")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(RemovalRequest, on_delete=models.PROTECT, related_name="purge_jobs")
    # The `removal.targets` registry name; `category` is what the deletion receipt calls it.
    target = models.CharField(max_length=64)
    category = models.CharField(max_length=64)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.PURGE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Opaque item ids the target planned to delete (storage keys, row ids): never personal data.
    plan = models.JSONField(default=list)
    planned = models.PositiveIntegerField(default=0)
    # plan[:done] is deleted; a worker carries on from there.
    done = models.PositiveIntegerField(default=0)
    # Items of the last failed step (or left after the final check): shown to staff, 0 when healthy.
    failed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempt_limit = models.PositiveSmallIntegerField()
    # When the job may next run; None while an after-completion job waits for the completion.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The exception's class only: messages may quote a path or an address.
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the job went into the erasure journal (removal.erasure_journal), before it deleted anything.
    journaled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "target"]
        constraints = [
            models.UniqueConstraint(fields=["request", "target"], name="removal_purgejob_once"),
            models.CheckConstraint(
                condition=Q(done__lte=models.F("planned")), name="removal_purgejob_done_le"
            ),
        ]
        indexes = [
            # The sweeper's two questions: which waiting jobs are due, whose lease has expired.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="removal_purgejob_due"
            ),
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="running"), name="removal_purgejob_lease"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} for {self.request_id}"
