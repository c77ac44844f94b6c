"""A request's audit events as a timeline a person reads, in the staff member's language.

Each event's action becomes a sentence; who did it is a name (ledger.labels), the time is local.
An action without a sentence here is shown by its code, so nothing on the record is ever hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from ledger import selectors as ledger_selectors
from ledger.labels import actor_labels
from removal.models import DenialBasis, ExtensionReason
from removal.services import ViewReason

WORDS: dict[str, Any] = {
    "request.received": _("Request received"),
    "request.duplicate_received": _("The same person asked again (no second request)"),
    "request.email_confirmed": _("The subject confirmed their e-mail address"),
    "request.ask_subject": _("Asked the subject for information"),
    "request.start_verification": _("Identity verification started"),
    "request.identity_attempt": _("The subject sent identity evidence"),
    "request.identity_received": _("Identity information recorded as received"),
    "request.identity_decided": _("Staff decided on the subject's identity"),
    "request.verify": _("Identity verified"),
    "request.waive_verification": _("Verification waived (opt-out)"),
    "request.start_discovery": _("Search for the subject's photos started"),
    "request.discovery_searched": _("Face index searched"),
    "request.finish_discovery": _("Photos found, waiting for review"),
    "request.candidates_decided": _("Candidate photos decided"),
    "request.purge_first_approval": _("First approval of the purge (a second lead must approve)"),
    "request.purge_first_approval_cancelled": _("First approval cancelled: decisions changed"),
    "request.approve_purge": _("Purge approved"),
    "request.purge_job_done": _("A purge job finished"),
    "request.purge_job_failed": _("A purge job failed"),
    "request.purge_job_retried": _("A failed purge job was retried"),
    "request.purge_replayed": _("Purge replayed after a restore"),
    "request.restore_purge": _("Purge approval restored from the erasure journal after a restore"),
    "request.downstream_notice_delivered": _("A downstream recipient was told"),
    "request.complete_purge": _("Purge complete"),
    "request.complete_opt_out": _("Opt-out carried out"),
    "request.receipt_issued": _("Deletion receipt issued"),
    "request.extended": _("Deadline extended"),
    "request.deny": _("Request denied"),
    "request.withdraw": _("Request withdrawn"),
    "request.assigned": _("Assignee changed"),
    "request.note_added": _("Internal note added"),
    "request.subject_messaged": _("Update sent to the subject"),
    "request.personal_data_viewed": _("Personal data opened"),
    "request.personal_data_shredded": _("Personal data erased"),
    "request.record_minimised": _("Record minimised after the retention period"),
    "request.suppression_consent_changed": _("The subject changed their suppression consent"),
    "request.suppression_entry_created": _("Suppression template kept (with consent)"),
}


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    what: str
    who: str
    details: dict[str, Any]
    leaf_index: int | None
    code: str


def request_timeline(request_id: object) -> list[TimelineEntry]:
    """Oldest first. Two queries: the request's events, the names of the staff among them."""
    events = ledger_selectors.events_for_object("removal_request", request_id)
    names = actor_labels(content.actor for _row, content in events)
    return [
        TimelineEntry(
            when=content.occurred_at,
            what=_sentence(content.action, content.details),
            who=names.get(content.actor, _actor_words(content.actor)),
            details=content.details,
            leaf_index=row.leaf_index,
            code=content.action,
        )
        for row, content in events
    ]


def _sentence(action: str, details: dict[str, Any]) -> str:
    words = str(WORDS.get(action, action))
    # The reasons are codes on the record: say them in words too.
    choices: dict[str, Any] = {
        "request.personal_data_viewed": dict(ViewReason.choices),
        "request.extended": dict(ExtensionReason.choices),
        "request.deny": dict(DenialBasis.choices),
    }.get(action, {})
    code = details.get("reason") or details.get("basis")
    if isinstance(code, str) and code in choices:
        return f"{words}: {choices[code]}"
    return words


def _actor_words(actor: str) -> str:
    return {"subject": str(_("the subject")), "system": str(_("the service"))}.get(actor, actor)
