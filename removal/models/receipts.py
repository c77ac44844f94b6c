from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from removal.models.requests import RemovalRequest


class ReceiptCategory(models.TextChoices):
    """What a deletion receipt can say was deleted: a code in the signed document, a label on screen.

    Codes only, never content: a receipt must say *what kind* of thing went and how many, not which.
    """

    PHOTOS = "photos", _("Photos")
    THUMBNAILS = "thumbnails", _("Thumbnails and resized copies")
    FACE_RECORDS = "face_records", _("Face records (face embeddings and search index entries)")
    HEADSHOT = "headshot", _("Photo of the face sent with the request")
    PERSONAL_DATA = "personal_data", _("Personal data held for the request (name, e-mail address)")
    DOWNSTREAM_NOTICES = "downstream_notices", _("Recipients told to delete their copies")


class DeletionReceipt(models.Model):
    """The signed proof of deletion handed to the subject: one per request, never changed once issued.

    `document` is the exact text given out (canonical JSON with its signature, see docs/receipts.md).
    It holds no personal data, so it stays readable after the request's data key is shredded.
    """

    request = models.OneToOneField(
        # PROTECT: a receipt is evidence; removing it with its request must be a deliberate act.
        RemovalRequest,
        on_delete=models.PROTECT,
        related_name="deletion_receipt",
    )
    document = models.TextField(editable=False)
    # Also inside the document; a column so an operator can tell which receipts a key signed before
    # retiring it.
    key_id = models.CharField(max_length=32, editable=False)
    issued_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"receipt {self.request_id}"
