"""Removal's tables: requests (`requests.py`), reminders (`reminders.py`),
the face index (`face_index.py`), discovery candidates and purge jobs (`purge.py`), deletion receipts
(`receipts.py`), downstream recipients and the notices sent to them (`downstream.py`), opt-in suppression
templates (`suppression.py`), staff's sealed internal notes (`notes.py`), public submissions waiting to
become requests (`submissions.py`)."""

from __future__ import annotations

from removal.models.downstream import DownstreamRecipient, RecipientNotice
from removal.models.face_index import Face, FaceIndexDeletion, FaceIndexState, Photo
from removal.models.notes import RequestNote
from removal.models.purge import Candidate, PurgeJob
from removal.models.receipts import DeletionReceipt, ReceiptCategory
from removal.models.reminders import DeadlineKind, Reminder
from removal.models.requests import (
    CLOSED_STATUSES,
    JURISDICTION_CHOICES,
    OPEN_STATUSES,
    Channel,
    DenialBasis,
    ExtensionReason,
    IdentityDoubt,
    RemovalRequest,
    RequestJurisdiction,
    Right,
    Status,
    StatusLink,
    SubjectAsk,
)
from removal.models.submissions import IntakeSubmission
from removal.models.suppression import SuppressionEntry, SuppressionKey

__all__ = [
    "CLOSED_STATUSES",
    "JURISDICTION_CHOICES",
    "OPEN_STATUSES",
    "Candidate",
    "Channel",
    "DeadlineKind",
    "DeletionReceipt",
    "DenialBasis",
    "DownstreamRecipient",
    "ExtensionReason",
    "Face",
    "FaceIndexDeletion",
    "FaceIndexState",
    "IdentityDoubt",
    "IntakeSubmission",
    "Photo",
    "PurgeJob",
    "ReceiptCategory",
    "RecipientNotice",
    "Reminder",
    "RemovalRequest",
    "RequestJurisdiction",
    "RequestNote",
    "Right",
    "Status",
    "StatusLink",
    "SubjectAsk",
    "SuppressionEntry",
    "SuppressionKey",
]
