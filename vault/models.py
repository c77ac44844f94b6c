from __future__ import annotations

import uuid

from django.db import models


class DataKey(models.Model):
    """One owner's data key, stored only wrapped by a master key.

    Shredding clears `wrapped_key`: every value sealed with it (in any table, in any backup taken
    after the master key that wrapped it is retired) becomes unreadable.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=64)
    master_key_id = models.CharField(max_length=32, blank=True)
    wrapped_key = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["master_key_id"], name="vault_datakey_master_kid")]

    def __str__(self) -> str:
        return f"data key {self.id} ({'shredded' if self.shredded_at else self.master_key_id})"

    @property
    def is_shredded(self) -> bool:
        return self.shredded_at is not None
