"""What the identity check of a request established, in the words the subject and staff both read.

A request is `verified` by one of three methods (identity.models.VerificationRecord.Method), and they
do not prove the same thing. With an identity document, the service checked a document and that the
headshot shows its holder: that is an identity verified. Under the default policy for erasure (no
document required), it checked that the headshot shows one face and that the requester reads the
e-mail address they gave: nothing about their name. Nobody may be told "identity verified" then.
What the face search found (discovery) is said beside it once it is known, because for an erasure
that is what the headshot is for. docs/identity.md, "What is checked, per right and jurisdiction",
gives the reasoning and how to require a document.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from identity import selectors as identity_selectors
from identity.models import VerificationRecord
from removal.models import Candidate, RemovalRequest, Status
from removal.services.common import subject_ref

Method = VerificationRecord.Method

_CHECKED_STATUSES = frozenset(
    {Status.VERIFIED, Status.DISCOVERING, Status.AWAITING_REVIEW, Status.PURGING, Status.COMPLETED}
)


@dataclass(frozen=True)
class IdentityCheck:
    method: str
    # The status's name while the request is `verified`: "Photo checked" where no identity was.
    status_label: str
    # What was checked, to the subject ("your photo...") and to staff ("the headshot...").
    for_subject: str
    for_staff: str
    # What the face search found, once it has: "" before, and once the purge has its own account.
    found: str
    # How many photos the search found, while they are reviewed (None before and after).
    matches: int | None


def identity_check(*, request: RemovalRequest) -> IdentityCheck | None:
    """The check that let the request on, or None (not checked yet, or needing none: an opt-out)."""
    if request.status not in _CHECKED_STATUSES:
        return None
    record = identity_selectors.latest_verified(subject_ref=subject_ref(request))
    if record is None:
        return None
    matches = (
        Candidate.objects.filter(request=request).count()
        if request.status == Status.AWAITING_REVIEW
        else None
    )
    if record.method == Method.HEADSHOT_AND_EMAIL:
        status_label = _("Photo checked")
        for_subject = _(
            "What we checked: your photo shows one face, and you confirmed your e-mail address. We did "
            "not check your name or an identity document: to delete photos of a face, what matters is "
            "that the face is yours, and your photo is what we search with."
        )
        for_staff = _(
            "Checked: the headshot shows one face and the e-mail address was confirmed. Not checked: "
            "the name or an identity document (this request's policy asks for none)."
        )
    elif record.method == Method.DOCUMENT_AND_HEADSHOT:
        status_label = _("Identity verified")
        for_subject = _(
            "What we checked: your identity document (its machine-readable lines, expiry date and "
            "name) and that your photo shows the person on it."
        )
        for_staff = _(
            "Checked: the identity document (machine-readable zone, expiry, name against the request) "
            "and the headshot against its portrait."
        )
    else:
        status_label = _("Identity verified")
        for_subject = _("A member of our privacy team checked your photos.")
        for_staff = _("Decided by a member of the privacy team on review of the checks.")
    return IdentityCheck(
        method=record.method,
        status_label=status_label,
        for_subject=for_subject,
        for_staff=for_staff,
        found=_found(matches),
        matches=matches,
    )


def _found(count: int | None) -> str:
    if count is None:
        return ""
    if not count:
        return _("We compared your photo with the photos we hold and found none of you.")
    return ngettext(
        "We compared your photo with the photos we hold: %(count)d may show you. A member of our "
        "team looks at it before anything is deleted.",
        "We compared your photo with the photos we hold: %(count)d may show you. A member of our "
        "team looks at each one before anything is deleted.",
        count,
    ) % {"count": count}
