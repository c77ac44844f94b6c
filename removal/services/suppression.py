"""Suppression (opt-in): a consenting subject's minimised template, and the ingest check that uses it.

Consent is the subject's alone (form, API, status page) and may change until the purge is approved:
the template is made then, from the headshot probe, in the approving transaction, because the
headshot is destroyed by the purge right after. Without consent nothing biometric outlives the purge.
Afterwards the subject can still withdraw (the entry is found by a keyed hash of the request id), and
every entry is deleted when its retention period ends (`suppression_entries_expire`, daily).

`SuppressionList` is what `removal.face_index.photo_ingest` asks whether a face must be refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from identity import selectors as identity_selectors
from ledger.services import event_append
from removal.models import OPEN_STATUSES, RemovalRequest, Right, Status, SuppressionEntry, SuppressionKey
from removal.models.suppression import TEMPLATE_BYTES, TEMPLATE_DTYPE
from removal.permissions import Action, require
from removal.services.common import (
    SUBJECT,
    SYSTEM,
    Actor,
    IllegalTransition,
    audit_request_event,
    subject_ref,
)
from vault.models import DataKey
from vault.services import blind_index, data_key_create, sealer_for

SUPPRESSION_KEY_PURPOSE = "removal.suppression"
_REQUEST_INDEX_PURPOSE = "removal.suppression.request"
# Associated data names this table: a template opens only in the row it was sealed for.
SUPPRESSION_TABLE = SuppressionEntry._meta.db_table
_TEMPLATE_COLUMN = "template_enc"
# Consent is the subject's to change while nothing has been made from it yet.
_CONSENT_CHANGEABLE = frozenset(OPEN_STATUSES) - {Status.PURGING}


def suppression_consent_changeable(request: RemovalRequest) -> bool:
    """Whether the subject may still give or withdraw consent (before the purge is approved)."""
    return request.right == Right.ERASURE and request.status in _CONSENT_CHANGEABLE


def _request_index(request: RemovalRequest) -> str:
    return blind_index(str(request.id), purpose=_REQUEST_INDEX_PURPOSE)


def _service_data_key() -> DataKey:
    """The service-wide suppression key, created on first use."""
    found = SuppressionKey.objects.select_related("data_key").filter(id=1).first()
    if found is not None:
        return found.data_key
    try:
        # A savepoint: when two approvals create the key at once, the loser's new key is rolled
        # back with its failed insert (no orphan key) and it uses the winner's.
        with transaction.atomic():
            data_key = data_key_create(purpose=SUPPRESSION_KEY_PURPOSE)
            SuppressionKey.objects.create(id=1, data_key=data_key)
            return data_key
    except IntegrityError:
        return SuppressionKey.objects.select_related("data_key").get(id=1).data_key


def suppression_entry_for(*, request: RemovalRequest) -> SuppressionEntry | None:
    return SuppressionEntry.objects.filter(request_index=_request_index(request)).first()


def suppression_consent_set(*, request: RemovalRequest, consent: bool, actor: Actor) -> bool:
    """The subject gives or withdraws consent before the purge is approved; returns whether it changed.

    The request row is locked, as `purge_approve` locks it: a withdrawal and an approval at the same
    moment are serialised, so an approval never makes a template from consent already withdrawn.
    """
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().get(id=request.id)
        if not suppression_consent_changeable(locked):
            raise IllegalTransition(
                reference=locked.reference, move="change_suppression_consent", status=locked.status
            )
        if locked.suppression_consent == consent:
            return False
        now = timezone.now()
        RemovalRequest.objects.filter(id=locked.id).update(
            suppression_consent=consent, suppression_consent_at=now
        )
        audit_request_event(
            locked.id, "suppression_consent_changed", actor=actor, details={"consent": consent}
        )
    request.suppression_consent, request.suppression_consent_at = consent, now
    return True


def suppression_entry_create(*, request: RemovalRequest) -> SuppressionEntry | None:
    """Make the consenting subject's template from their headshot probe. Call inside the transaction
    that approves the purge (the probe is destroyed by the purge). Idempotent: an existing entry is
    returned as it is. None without consent or without a probe (identity confirmed another way)."""
    if not request.suppression_consent:
        return None
    index = _request_index(request)
    existing = SuppressionEntry.objects.filter(request_index=index).first()
    if existing is not None:
        return existing
    embedding = identity_selectors.headshot_probe_embedding(subject_ref=subject_ref(request))
    if embedding is None:
        return None
    data_key = _service_data_key()
    now = timezone.now()
    entry = SuppressionEntry(
        request_index=index,
        data_key=data_key,
        expires_at=now + timedelta(days=settings.SUPPRESSION_RETENTION_DAYS),
    )
    template = np.asarray(embedding, dtype=TEMPLATE_DTYPE).tobytes()
    entry.template_enc = sealer_for(data_key).seal_bytes(
        template, table=SUPPRESSION_TABLE, column=_TEMPLATE_COLUMN, row_id=entry.id
    )
    del embedding, template
    entry.save(force_insert=True)
    # The expiry date only: neither the entry's id (which would link the unlinkable row to the
    # request for anyone reading the exported trail) nor anything of the template.
    audit_request_event(
        request.id,
        "suppression_entry_created",
        actor=SYSTEM,
        details={"expires_on": entry.expires_at.date().isoformat()},
    )
    return entry


def suppression_withdraw(*, request: RemovalRequest, actor: Actor = SUBJECT) -> bool:
    """The subject withdraws consent at any time: before approval nothing will be made, after it the
    entry is deleted. Returns whether anything changed."""
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().get(id=request.id)
        deleted, _ = SuppressionEntry.objects.filter(request_index=_request_index(locked)).delete()
        if not deleted and not locked.suppression_consent:
            return False
        now = timezone.now()
        RemovalRequest.objects.filter(id=locked.id).update(
            suppression_consent=False, suppression_consent_at=now
        )
        audit_request_event(
            locked.id,
            "suppression_consent_changed",
            actor=actor,
            details={"consent": False, "entry_deleted": bool(deleted)},
        )
    request.suppression_consent, request.suppression_consent_at = False, now
    return True


def suppression_entry_delete(*, entry: SuppressionEntry, actor: Actor) -> bool:
    """Staff delete one entry (admin). Audited against the entry's id: staff never see the request."""
    require(actor, Action.DELETE_SUPPRESSION)
    with transaction.atomic():
        deleted, _ = SuppressionEntry.objects.filter(id=entry.id).delete()
        if deleted:
            event_append(
                actor=str(actor),
                action="suppression.entry_deleted",
                object_type="suppression_entry",
                object_id=entry.id,
            )
    return bool(deleted)


def suppression_entries_expire(*, now: datetime | None = None) -> int:
    """Delete the entries whose retention period ended; returns how many (the daily beat task)."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(SuppressionEntry.objects.filter(expires_at__lte=now).values_list("id", flat=True))
        if not expired:
            return 0
        deleted, _ = SuppressionEntry.objects.filter(id__in=expired).delete()
        # One event per run, with the count: the proof that retention is enforced, whatever the volume.
        event_append(
            actor=str(SYSTEM),
            action="suppression.entries_expired",
            object_type="suppression",
            object_id="expiry",
            details={"deleted": deleted, "expired_before": now.isoformat()},
            occurred_at=now,
        )
    return deleted


# --- The ingest check -----------------------------------------------------------------------------


@dataclass
class SuppressionList:
    """The live templates, decrypted once and kept for a whole ingest run.

    Before each photo it asks the database one cheap question (how many entries, the newest's time,
    the highest keyed hash: count and time alone can repeat after a restore or under a frozen clock);
    it re-reads the templates only when that answer changed, so an entry created or withdrawn
    while a long ingest runs counts from the next photo on. Entries past their expiry are ignored
    even before the daily expiry deletes them.
    """

    max_distance: float | None = None
    _signature: tuple[int, datetime | None, str | None] | None = field(default=None, repr=False)
    _templates: np.ndarray = field(default_factory=lambda: np.empty((0, 128), np.float32), repr=False)
    _squared_norms: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32), repr=False)
    _expires: list[datetime] = field(default_factory=list, repr=False)

    def _refresh(self) -> None:
        current = SuppressionEntry.objects.aggregate(
            count=Count("id"), newest=Max("created_at"), highest=Max("request_index")
        )
        signature = (current["count"], current["newest"], current["highest"])
        if signature == self._signature:
            return
        rows = list(SuppressionEntry.objects.select_related("data_key").order_by("id"))
        sealers = {}
        templates = np.empty((len(rows), 128), dtype=np.float32)
        for position, row in enumerate(rows):
            if row.data_key_id not in sealers:
                sealers[row.data_key_id] = sealer_for(row.data_key)
            raw = sealers[row.data_key_id].open_bytes(
                row.template_enc, table=SUPPRESSION_TABLE, column=_TEMPLATE_COLUMN, row_id=row.id
            )
            if len(raw) != TEMPLATE_BYTES:
                raise ValueError("a suppression template has the wrong size")
            templates[position] = np.frombuffer(raw, dtype=TEMPLATE_DTYPE).astype(np.float32)
        self._templates = templates
        self._squared_norms = np.einsum("ij,ij->i", templates, templates)
        self._expires = [row.expires_at for row in rows]
        self._signature = signature

    def matches_any(self, embeddings: list[np.ndarray]) -> bool:
        """Whether any of these faces is within the suppression distance of a live template."""
        if not embeddings:
            return False
        self._refresh()
        if not len(self._templates):
            return False
        now = timezone.now()
        live = np.fromiter((expires > now for expires in self._expires), dtype=bool, count=len(self._expires))
        if not live.any():
            return False
        faces = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
        # |a - b|^2 = |a|^2 + |b|^2 - 2ab: one matrix product for every face against every template.
        squared = (
            np.einsum("ij,ij->i", faces, faces)[:, None]
            + self._squared_norms[None, live]
            - 2.0 * faces @ self._templates[live].T
        )
        limit = settings.SUPPRESSION_MAX_DISTANCE if self.max_distance is None else self.max_distance
        return bool((np.maximum(squared, 0.0) <= limit * limit).any())
