"""Purge targets: the places a subject's data is deleted from, each behind one small interface.

A target answers three questions about one approved request:

- `plan(ctx)`: which items will you delete? Called inside the transaction that approves the purge;
  the answer (opaque ids: storage keys, row ids, recipient ids; never personal data, since it is
  stored in the job row) becomes the job's plan, and its length the count on the deletion receipt.
  A target that needs more later (a webhook payload, say) may store it in its own tables here,
  sealed with `ctx.request.data_key`.
- `purge(ctx, items)`: delete these items (one batch of the plan, at most `batch_size`). Must be
  idempotent: after a crash the same batch is purged again, and an item already gone is success.
  Runs inside a transaction that also records the progress, so database deletions commit with it.
  Raise to fail the batch (the job retries with backoff): the batch's database writes roll back.
  Raise `NotYet` to wait without using up an attempt (a message still in the outbox, say): the batch
  is not advanced, but what `purge` wrote before raising it commits (the outbox message it waits for).
- `purge_failed(ctx, error)` (optional): called in a fresh transaction after a failed batch rolled
  back, with the exception `purge` raised, to keep evidence of what happened outside the database
  (a recipient answered 500). The default does nothing.
- `remaining(ctx, items)`: which of the planned items are still there? The job is done only when
  this returns nothing.
- `purge_orphaned(items)` (optional): delete the items with no request at hand, after a database
  restore lost the request (removal.services.replay). Only for data that predates the request.

Targets are listed by dotted path in `settings.PURGE_TARGETS` (the built-ins) and
`PURGE_EXTRA_TARGETS` (an operator's own, e.g. a CRM table keyed by e-mail; docs/purge.md shows one).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from django.conf import settings
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from removal.models import Candidate, Photo, PurgeJob, RemovalRequest
from removal.selectors import SubjectPII, removal_request_pii
from removal.services.common import subject_ref


class NotYet(Exception):
    """Not possible yet (no failure): try again in `seconds` without counting an attempt."""

    def __init__(self, seconds: float, reason: str) -> None:
        self.seconds = seconds
        super().__init__(reason)


@dataclass(frozen=True)
class PurgeContext:
    """What a target may know about the request it purges for."""

    request: RemovalRequest
    # None while planning (the job does not exist yet).
    job_id: uuid.UUID | None = None

    @property
    def subject_ref(self) -> str:
        """The opaque id under which the identity app keeps the subject's headshot and the outbox their
        messages."""
        return subject_ref(self.request)

    @cached_property
    def confirmed_photo_ids(self) -> list[uuid.UUID]:
        """Photos staff confirmed as showing the subject, in a stable order."""
        return sorted(
            set(
                Candidate.objects.filter(
                    request=self.request, decision=Candidate.Decision.CONFIRMED
                ).values_list("face__photo_id", flat=True)
            ),
            key=str,
        )

    def confirmed_photos(self) -> list[Photo]:
        """The confirmed photos' rows, read once per context (every target plans from them)."""
        return list(self._confirmed_photos)

    @cached_property
    def _confirmed_photos(self) -> tuple[Photo, ...]:
        return tuple(Photo.objects.filter(id__in=self.confirmed_photo_ids).order_by("id"))

    def subject_pii(self) -> SubjectPII:
        """The subject's name and e-mail, decrypted: for targets keyed by them (an operator's CRM).

        Use it to find row ids while planning; never put the values themselves in the plan.
        """
        return removal_request_pii(request=self.request)

    def idempotency_key(self, target: str, item: str = "") -> str:
        """Stable across retries of the same job item: downstream recipients drop repeats with it."""
        return f"{self.request.id}:{target}:{item}" if item else f"{self.request.id}:{target}"


class PurgeTarget(ABC):
    """Base class of a purge target (see the module docstring): subclasses set the class attributes
    and implement the three abstract methods; a target missing one fails the start-up check."""

    # Registry name, stored on the job: never rename one that has jobs.
    name: ClassVar[str]
    # Category code on the deletion receipt (removal.receipts lists the labels).
    category: ClassVar[str]
    phase: ClassVar[str] = PurgeJob.Phase.PURGE
    batch_size: ClassVar[int] = 500

    @abstractmethod
    def plan(self, ctx: PurgeContext) -> list[str]:
        """The items to delete (opaque ids), inside the approving transaction."""

    @abstractmethod
    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        """Delete these items, idempotently, inside the transaction that records the progress."""

    @abstractmethod
    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        """The planned items still there (the job is done when none are)."""

    def purge_failed(self, ctx: PurgeContext, error: Exception) -> None:  # noqa: B027 (optional hook)
        """Keep evidence of a failed batch that its rollback undid. Most targets have none."""

    def purge_orphaned(self, items: Sequence[str]) -> bool:
        """After a database restore that lost the request itself (it was filed after the backup):
        delete these items again if that needs nothing of the request, and return True. Most
        targets' data was made with the request, so such a restore cannot have brought it back: by
        default nothing is done and False returned. The gallery's targets override it."""
        return False


@cache
def _registry(paths: tuple[str, ...]) -> dict[str, PurgeTarget]:
    targets: dict[str, PurgeTarget] = {}
    for path in paths:
        target_class = import_string(path)
        if not (isinstance(target_class, type) and issubclass(target_class, PurgeTarget)):
            raise TypeError(f"{path} is not a removal.targets.PurgeTarget subclass")
        target = target_class()
        if target.name in targets:
            raise ValueError(f"two purge targets are named {target.name!r}")
        if target.phase not in PurgeJob.Phase.values:
            raise ValueError(f"{path}: phase must be one of {PurgeJob.Phase.values}")
        targets[target.name] = target
    return targets


def purge_targets() -> dict[str, PurgeTarget]:
    """Every configured target by name, built-ins first (the order jobs are created and shown in)."""
    return _registry(tuple(settings.PURGE_TARGETS) + tuple(settings.PURGE_EXTRA_TARGETS))


def purge_target(name: str) -> PurgeTarget:
    return purge_targets()[name]
