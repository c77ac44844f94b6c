"""Removal's tables: requests (`requests.py`), the audit chain (`audit.py`), reminders (`reminders.py`)."""

from __future__ import annotations

from removal.models.audit import AuditEvent
from removal.models.face_index import Face, FaceIndexState, Photo
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
    SubjectAsk,
)

__all__ = [
    "CLOSED_STATUSES",
    "JURISDICTION_CHOICES",
    "OPEN_STATUSES",
    "AuditEvent",
    "Channel",
    "DeadlineKind",
    "DenialBasis",
    "ExtensionReason",
    "Face",
    "FaceIndexState",
    "IdentityDoubt",
    "Photo",
    "Reminder",
    "RemovalRequest",
    "RequestJurisdiction",
    "Right",
    "Status",
    "SubjectAsk",
]
