"""Built-in targets about the subject: their headshot probe, and their request's personal data."""

from __future__ import annotations

from collections.abc import Sequence

from identity import selectors as identity_selectors
from identity import services as identity_services
from notifications.selectors import messages_unsent
from removal.models import Candidate, PurgeJob
from removal.services.common import SYSTEM
from removal.services.lifecycle import removal_request_shred_personal_data
from removal.targets import NotYet, PurgeContext, PurgeTarget
from vault.models import DataKey

# How long to wait for the outbox before shredding the key that seals its messages.
OUTBOX_WAIT_SECONDS = 300


class Headshot(PurgeTarget):
    """The sealed headshot and its embedding, and discovery's remaining candidate scores.

    Staff need the headshot until they approve the purge; afterwards nothing biometric of the subject
    is kept (unless they consented to suppression, which keeps its own minimised template).
    """

    name = "headshot"
    category = "headshot"

    def plan(self, ctx: PurgeContext) -> list[str]:
        name = identity_selectors.headshot_probe_storage_name(subject_ref=ctx.subject_ref)
        return [name] if name else []

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        for storage_name in items:
            identity_services.headshot_probe_purge(subject_ref=ctx.subject_ref, storage_name=storage_name)
        Candidate.objects.filter(request=ctx.request).delete()

    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        return [
            storage_name
            for storage_name in items
            if identity_selectors.headshot_probe_exists(
                subject_ref=ctx.subject_ref, storage_name=storage_name
            )
        ]


class PersonalData(PurgeTarget):
    """The request's name, e-mail address, notes and sent messages, by destroying its data key.

    Runs after completion, once `REQUEST_PERSONAL_DATA_RETENTION_DAYS` have passed (the completion
    notice and receipt still need the address) and the outbox holds nothing unsent about the request.
    The request record itself (reference, dates, outcome, audit trail) stays, as the law requires.
    """

    name = "personal_data"
    category = "personal_data"
    phase = PurgeJob.Phase.AFTER_COMPLETION

    def plan(self, ctx: PurgeContext) -> list[str]:
        return [] if ctx.request.data_key.is_shredded else [str(ctx.request.data_key_id)]

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        if not items:
            return
        if messages_unsent(about=ctx.subject_ref):
            raise NotYet(OUTBOX_WAIT_SECONDS, "messages about the request are still in the outbox")
        removal_request_shred_personal_data(request=ctx.request, actor=SYSTEM)

    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        shredded = set(
            str(key_id)
            for key_id in DataKey.objects.filter(id__in=items, shredded_at__isnull=False).values_list(
                "id", flat=True
            )
        )
        return [item for item in items if item not in shredded]
