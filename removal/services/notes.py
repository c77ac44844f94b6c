"""Internal notes on a request: written by whoever works it, sealed like the rest of its personal data."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from removal.models import RemovalRequest, RequestNote
from removal.permissions import Action, require
from removal.services.common import Actor, InvalidRequest, audit_request_event
from vault.services import DataKeyShredded, sealer_for

NOTE_MAX_LENGTH = 4000
NOTE_TABLE = RequestNote._meta.db_table


def removal_request_note_add(*, request: RemovalRequest, actor: Actor, text: str) -> RequestNote:
    """Add a note. The log records that a note was added and by whom, never what it says."""
    require(actor, Action.WORK, request)
    text = text.strip()
    if not text:
        raise InvalidRequest({"note": [_("Write the note first.")]})
    if len(text) > NOTE_MAX_LENGTH:
        raise InvalidRequest(
            {"note": [_("A note holds %(max)d characters at most.") % {"max": NOTE_MAX_LENGTH}]}
        )
    if request.data_key.is_shredded:
        raise InvalidRequest({"note": [_("This request's personal data is erased: no more notes.")]})
    with transaction.atomic():
        note = RequestNote(request=request, author=actor.user)
        note.body_enc = sealer_for(request.data_key).seal(
            text, table=NOTE_TABLE, column="body_enc", row_id=note.id
        )
        note.save()
        audit_request_event(request.id, "note_added", actor=actor, details={"note": str(note.id)})
    return note


def removal_request_notes(*, request: RemovalRequest) -> list[tuple[RequestNote, str]]:
    """The notes, oldest first, opened. Callers show them inside a viewing window only."""
    try:
        sealer = sealer_for(request.data_key)
    except DataKeyShredded:
        return []
    notes = RequestNote.objects.filter(request=request).select_related("author")
    return [
        (note, sealer.open(note.body_enc, table=NOTE_TABLE, column="body_enc", row_id=note.id))
        for note in notes
    ]
