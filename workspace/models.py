from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A queue view with its filters, saved by one staff member under a name of their choosing.
    `query` is the queue page's query string (view and filters: codes and dates, no personal data)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="workspace_saved_view_name_once")
        ]

    def __str__(self) -> str:
        return self.name
