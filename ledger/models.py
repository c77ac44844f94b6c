"""The verifiable log's tables: events (the leaves), tiles of tree hashes, signed checkpoints.

Events are written with leaf_index NULL in the transaction of the change they record; the sequencer
(ledger.services.ledger_sequence) gives them their positions in batches, extends the tiles and signs a
checkpoint. On PostgreSQL, triggers (migration 0002) allow nothing else: an event's only permitted
change is getting its position once; checkpoints never change; DELETE and TRUNCATE are refused.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One leaf. `payload` is the exact canonical JSON that is hashed (RFC 6962 leaf input); every
    other column repeats a part of it for queries, and ledger_verify compares each with it."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, default="ok")
    payload = models.TextField()
    leaf_hash = models.BinaryField(max_length=32, unique=True)
    leaf_index = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    sequenced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="ledger_event_object"),
            models.Index(fields=["occurred_at"], name="ledger_event_occurred"),
            models.Index(
                fields=["id"], name="ledger_event_pending", condition=models.Q(leaf_index__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        where = f"#{self.leaf_index}" if self.leaf_index is not None else "(waiting)"
        return f"{where} {self.action}"


class Tile(models.Model):
    """Up to 256 consecutive node hashes of one tree row: level L holds the roots of the perfect
    subtrees of height 8·L. A tile with fewer than 256 hashes is the row's growing right edge."""

    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hashes = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="ledger_tile_position")]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index} ({len(self.hashes) // 32} hashes)"


class Checkpoint(models.Model):
    """A signed tree head, in the C2SP signed-note text (`note`) and as RFC 6962 fields."""

    tree_size = models.PositiveBigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    timestamp_ms = models.PositiveBigIntegerField()
    key_id = models.CharField(max_length=32)
    note = models.TextField()
    # RFC 6962 §3.5 TreeHeadSignature as a base64 TLS DigitallySigned (Ed25519), for get-sth.
    tree_head_signature = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tree_size"]
        get_latest_by = "tree_size"

    def __str__(self) -> str:
        return f"checkpoint of size {self.tree_size}"


class WitnessPush(models.Model):
    """The last checkpoint each configured witness accepted, and the last failure."""

    witness = models.CharField(max_length=64, unique=True)
    tree_size = models.PositiveBigIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.witness}: size {self.tree_size}"


class Regulator(models.Model):
    """An authority that reads the request log: only for the jurisdictions granted to it."""

    name = models.CharField(max_length=120, unique=True)
    jurisdictions = models.JSONField(default=list, help_text='Codes it may export, e.g. ["EU", "GB"].')
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class RegulatorAccount(models.Model):
    """A person at a regulator who signs in (with a second factor) to read and export its part of the
    log. Not a staff account: it opens the regulator's pages only, never a request or personal data."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="regulator_account"
    )
    regulator = models.ForeignKey(Regulator, on_delete=models.CASCADE, related_name="accounts")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} at {self.regulator}"


class RegulatorToken(models.Model):
    """A scoped, expiring API token for a regulator's machine exports. Only its SHA-256 is stored;
    the token is shown once, when made (`manage.py regulator_token`)."""

    regulator = models.ForeignKey(Regulator, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to recognise it.")
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.regulator})"
