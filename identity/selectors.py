"""Reads for identity verification."""

from __future__ import annotations

import numpy as np
from django.core.files.storage import default_storage

from identity.models import HeadshotProbe, VerificationRecord
from vault.services import sealer_for

PROBE_TABLE = HeadshotProbe._meta.db_table


def verification_attempts(*, subject_ref: str) -> int:
    """Attempts the subject made (staff decisions do not count against them)."""
    return (
        VerificationRecord.objects.filter(subject_ref=subject_ref)
        .exclude(method=VerificationRecord.Method.STAFF_REVIEW)
        .count()
    )


def verification_records(*, subject_ref: str) -> list[VerificationRecord]:
    return list(VerificationRecord.objects.filter(subject_ref=subject_ref).order_by("created_at"))


def latest_verification(*, subject_ref: str) -> VerificationRecord | None:
    return VerificationRecord.objects.filter(subject_ref=subject_ref).order_by("-created_at").first()


def latest_verified(*, subject_ref: str) -> VerificationRecord | None:
    """The newest record whose outcome verified the subject (an attempt or a staff decision)."""
    return (
        VerificationRecord.objects.filter(
            subject_ref=subject_ref, outcome=VerificationRecord.Outcome.VERIFIED
        )
        .order_by("-created_at")
        .first()
    )


def has_headshot_probe(*, subject_ref: str) -> bool:
    return HeadshotProbe.objects.filter(subject_ref=subject_ref).exists()


def headshot_probe_image(*, subject_ref: str) -> bytes | None:
    """The decrypted headshot, for staff reviewing candidates only. None if there is none (any more)."""
    probe = HeadshotProbe.objects.select_related("data_key").filter(subject_ref=subject_ref).first()
    if probe is None:
        return None
    with default_storage.open(probe.storage_name, "rb") as handle:
        sealed = handle.read()
    return sealer_for(probe.data_key).open_bytes(sealed, table=PROBE_TABLE, column="image", row_id=probe.id)


def headshot_probe_embedding(*, subject_ref: str) -> np.ndarray | None:
    """The probe's 128-d embedding, for discovery. Never added to the face index."""
    probe = HeadshotProbe.objects.select_related("data_key").filter(subject_ref=subject_ref).first()
    if probe is None:
        return None
    raw = sealer_for(probe.data_key).open_bytes(
        probe.embedding_enc, table=PROBE_TABLE, column="embedding_enc", row_id=probe.id
    )
    return np.frombuffer(raw, dtype="<f4").copy()


def headshot_probe_storage_name(*, subject_ref: str) -> str | None:
    """Where the sealed headshot lies (a random name): what the purge plans to delete."""
    return (
        HeadshotProbe.objects.filter(subject_ref=subject_ref).values_list("storage_name", flat=True).first()
    )


def headshot_probe_exists(*, subject_ref: str, storage_name: str) -> bool:
    """Whether anything of the probe is left: its row, or its file."""
    return HeadshotProbe.objects.filter(subject_ref=subject_ref).exists() or default_storage.exists(
        storage_name
    )


def headshot_probe_subject_refs() -> list[str]:
    """Whose headshots are held (one probe per open request at most): for the retention sweep."""
    return list(HeadshotProbe.objects.values_list("subject_ref", flat=True))
