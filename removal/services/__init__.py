"""Writes for removal requests. Callers use `from removal import services` and the names below.

- `intake.py`: requests from every channel, duplicates, e-mail confirmation
- `lifecycle.py`: one service per status move, erasure of a closed request's personal data
- `deadlines.py`: deadlines at intake, the identity clock, extensions
- `verification.py`: proportionate identity evidence, the subject's attempts, staff decisions
- `common.py`: actors, errors, the audit helper, mail to the subject
- `access.py`: staff opening a request's personal data, with a reason, on the record
- `assignment.py`: who works a request (assign, take, hand back)
- `notes.py`: staff's internal notes on a request, sealed
- `messages.py`: the updates staff send the subject, from fixed templates
- `downstream.py`: the recipients told about erasures (GDPR Art. 19, CCPA §7022(b)(3))
"""

from __future__ import annotations

from removal.services.access import ViewReason, removal_request_record_personal_data_view
from removal.services.assignment import removal_request_assign
from removal.services.common import SUBJECT, SYSTEM, Actor, IllegalTransition, InvalidRequest, normalise_email
from removal.services.deadlines import removal_request_extend, removal_request_record_identity_received
from removal.services.downstream import downstream_recipient_errors, downstream_recipient_save
from removal.services.intake import (
    NAME_MAX_LENGTH,
    STATUS_LINKS_KEPT,
    IntakeResult,
    confirmation_url,
    removal_request_confirm_email,
    removal_request_create,
    status_url,
)
from removal.services.lifecycle import (
    MOVES,
    Move,
    allowed_moves,
    removal_request_approve_purge,
    removal_request_ask_subject,
    removal_request_complete_opt_out,
    removal_request_complete_purge,
    removal_request_deny,
    removal_request_finish_discovery,
    removal_request_restore_purge,
    removal_request_shred_personal_data,
    removal_request_start_discovery,
    removal_request_start_verification,
    removal_request_transition,
    removal_request_verify,
    removal_request_waive_verification,
    removal_request_withdraw,
)
from removal.services.messages import SubjectUpdate, removal_request_message_subject
from removal.services.notes import removal_request_note_add, removal_request_notes
from removal.services.submissions import (
    intake_process,
    intake_process_after_answer,
    intake_submit,
    intake_sweep,
)
from removal.services.verification import (
    StaffIdentityFinding,
    attempts_left,
    evidence_required,
    removal_request_decide_identity,
    removal_request_submit_identity,
    subject_ref,
)
from vault.services import blind_index

__all__ = [
    "MOVES",
    "NAME_MAX_LENGTH",
    "STATUS_LINKS_KEPT",
    "SUBJECT",
    "SYSTEM",
    "Actor",
    "IllegalTransition",
    "IntakeResult",
    "InvalidRequest",
    "Move",
    "StaffIdentityFinding",
    "SubjectUpdate",
    "ViewReason",
    "allowed_moves",
    "attempts_left",
    "blind_index",
    "confirmation_url",
    "downstream_recipient_errors",
    "downstream_recipient_save",
    "evidence_required",
    "intake_process",
    "intake_process_after_answer",
    "intake_submit",
    "intake_sweep",
    "normalise_email",
    "removal_request_approve_purge",
    "removal_request_ask_subject",
    "removal_request_assign",
    "removal_request_complete_opt_out",
    "removal_request_complete_purge",
    "removal_request_confirm_email",
    "removal_request_create",
    "removal_request_decide_identity",
    "removal_request_deny",
    "removal_request_extend",
    "removal_request_finish_discovery",
    "removal_request_message_subject",
    "removal_request_note_add",
    "removal_request_notes",
    "removal_request_record_identity_received",
    "removal_request_record_personal_data_view",
    "removal_request_restore_purge",
    "removal_request_shred_personal_data",
    "removal_request_start_discovery",
    "removal_request_start_verification",
    "removal_request_submit_identity",
    "removal_request_transition",
    "removal_request_verify",
    "removal_request_waive_verification",
    "removal_request_withdraw",
    "status_url",
    "subject_ref",
]
