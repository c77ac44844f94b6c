"""Writes for identity verification: derived-fact records and the sealed headshot probe.

Callers pass an opaque `subject_ref` and the data key that seals the subject's data; identity knows
nothing of what the subject asked for. The ID photo never reaches this module: `pipeline.verify_identity`
consumes it in memory and returns only derived facts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from identity.decision import Decision, Reason
from identity.models import HeadshotProbe, VerificationRecord
from identity.selectors import PROBE_TABLE
from vault.models import DataKey
from vault.services import blind_index, sealer_for


def document_number_hash(number: str) -> str:
    """Keyed hash of a document number: finds one document used for several people, reveals nothing."""
    return blind_index("".join(number.split()).upper(), purpose="identity.document_number")


def verification_record_create(
    *,
    subject_ref: str,
    method: str,
    decision: Decision | None,
    outcome: str,
    evidence_required: Mapping[str, bool],
    reasons: tuple[Reason, ...] = (),
    document_number: str | None = None,
    decided_by: User | None = None,
) -> VerificationRecord:
    return VerificationRecord.objects.create(
        subject_ref=subject_ref,
        method=method,
        outcome=outcome,
        reasons=[{"code": r.code, "message": r.message} for r in (decision.reasons if decision else reasons)],
        face_distance=decision.face_distance if decision else None,
        name_match_score=decision.name_match_score if decision else None,
        document_type=(decision.document_type or "") if decision else "",
        issuing_state=(decision.issuing_state or "") if decision else "",
        expiry_valid=decision.expiry_valid if decision else None,
        check_digits_valid=decision.check_digits_valid if decision else None,
        document_number_hash=document_number_hash(document_number) if document_number else "",
        policy_version=decision.policy_version if decision else "",
        evidence_required=dict(evidence_required),
        decided_by=decided_by,
    )


def headshot_probe_store(
    *, subject_ref: str, data_key: DataKey, jpeg: bytes, embedding: np.ndarray
) -> HeadshotProbe:
    """Seal the (metadata-free) headshot and its embedding; a newer attempt replaces the older one.

    Call inside the transaction that records the attempt. Files are not transactional: the new file
    is removed again if that transaction rolls back (`sealed_files_discarded_on_rollback`), and the
    replaced one only once it commits.
    """
    headshot_probe_destroy(subject_ref=subject_ref)
    probe = HeadshotProbe(
        subject_ref=subject_ref, data_key=data_key, storage_name=f"headshots/{uuid.uuid4().hex}"
    )
    sealer = sealer_for(data_key)
    sealed_image = sealer.seal_bytes(jpeg, table=PROBE_TABLE, column="image", row_id=probe.id)
    probe.embedding_enc = sealer.seal_bytes(
        np.asarray(embedding, dtype="<f4").tobytes(),
        table=PROBE_TABLE,
        column="embedding_enc",
        row_id=probe.id,
    )
    probe.storage_name = default_storage.save(probe.storage_name, ContentFile(sealed_image))
    pending = getattr(_pending, "files", None)
    if pending is not None:
        pending.append(probe.storage_name)
    probe.save(force_insert=True)
    return probe


def headshot_probe_destroy(*, subject_ref: str) -> bool:
    """Delete the probe (after the purge, or when replaced); its file goes once the deletion commits."""
    probe = HeadshotProbe.objects.filter(subject_ref=subject_ref).first()
    if probe is None:
        return False
    name = probe.storage_name
    probe.delete()
    transaction.on_commit(lambda: default_storage.delete(name))
    return True


# Sealed files written inside a `sealed_files_discarded_on_rollback` block, per thread.
_pending = threading.local()


@contextmanager
def sealed_files_discarded_on_rollback() -> Iterator[None]:
    """Wrap the transaction that stores probes: if it fails, the files it wrote are deleted too."""
    written: list[str] = []
    outer = getattr(_pending, "files", None)
    _pending.files = written
    try:
        yield
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    finally:
        _pending.files = outer


def headshot_probe_purge(*, subject_ref: str, storage_name: str) -> None:
    """Delete the probe's file now and its row: for the purge, which checks afterwards that both are
    gone. Idempotent: either may be gone already (a retry after a crash)."""
    default_storage.delete(storage_name)
    HeadshotProbe.objects.filter(subject_ref=subject_ref).delete()
