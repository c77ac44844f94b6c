"""Suppression (opt-in): with the subject's consent a minimised, sealed template of their face outlives
the purge, and the ingest refuses their face; without it nothing biometric is kept.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from identity.images import decode_image
from identity.models import HeadshotProbe
from identity.selectors import headshot_probe_embedding
from ledger.models import AuditEvent
from removal import face_index
from removal.face_index import PHOTO_PREFIX, THUMBNAIL_PREFIX, photo_ingest
from removal.models import (
    Candidate,
    Face,
    Photo,
    PurgeJob,
    RemovalRequest,
    Status,
    SuppressionEntry,
)
from removal.services import SUBJECT, Actor, purge, subject_ref
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.suppression import (
    SUPPRESSION_TABLE,
    SuppressionList,
    suppression_entries_expire,
    suppression_entry_create,
    suppression_withdraw,
)
from vault import services as vault_services
from vault.services import DecryptionError, sealer_for

pytestmark = pytest.mark.django_db

OBAMA = {"name": "Barack Hussein Obama", "email": "barack@example.org"}


def _verified(make_request: Any, photos: dict[str, bytes], *, consent: bool, **overrides: Any) -> Any:
    """A subject whose headshot (obama.jpg) verified them: the probe that discovery and suppression use."""
    from removal import services

    result = make_request(**{**OBAMA, **overrides}, suppression_consent=consent)
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    result.request.refresh_from_db()
    services.removal_request_submit_identity(
        request=result.request, headshot=photos["obama.jpg"], document=None, actor=SUBJECT
    )
    result.request.refresh_from_db()
    assert result.request.status == Status.VERIFIED
    return result


def _awaiting_review(make_request: Any, photos: dict[str, bytes], reviewer: Any, *, consent: bool) -> Any:
    """Discovery ran over the current index and staff confirmed every candidate as the subject."""
    result = _verified(make_request, photos, consent=consent)
    removal_request_discover(request_id=result.request.id)
    request = RemovalRequest.objects.select_related("data_key").get(id=result.request.id)
    assert request.status == Status.AWAITING_REVIEW
    decisions: dict[int, str] = {
        c.id: Candidate.Decision.CONFIRMED for c in Candidate.objects.filter(request=request)
    }
    if decisions:
        candidates_decide(request=request, actor=Actor.staff(reviewer), decisions=decisions, user=reviewer)
    result.request = request
    return result


def _approve(request: RemovalRequest, reviewer: Any) -> RemovalRequest:
    purge.purge_approve(request=request, actor=Actor.staff(reviewer))
    return RemovalRequest.objects.select_related("data_key").get(id=request.id)


def _run_purge_jobs(request: RemovalRequest) -> None:
    for job in PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE, status="pending"):
        assert purge.purge_job_run(job_id=job.id) == PurgeJob.Status.DONE


def _embedding(photos: dict[str, bytes], name: str) -> np.ndarray:
    [(_, embedding)] = face_index._faces_of(decode_image(photos[name]))
    return embedding


def _events(request: RemovalRequest, action: str) -> list[dict[str, Any]]:
    return [
        {"actor": event.actor, **json.loads(event.payload)["details"]}
        for event in AuditEvent.objects.filter(object_id=str(request.id), action=f"request.{action}")
    ]


def _stored_files() -> set[str]:
    names: set[str] = set()
    for folder in (PHOTO_PREFIX, THUMBNAIL_PREFIX):
        if default_storage.exists(folder):
            names.update(f"{folder}/{name}" for name in default_storage.listdir(folder)[1])
    return names


# --- What is kept ---------------------------------------------------------------------------------


def test_with_consent_approving_the_purge_keeps_one_minimised_sealed_template(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    result = _awaiting_review(make_request, photos, reviewer, consent=True)
    probe = headshot_probe_embedding(subject_ref=subject_ref(result.request))
    assert probe is not None

    request = _approve(result.request, reviewer)

    assert request.status == Status.PURGING
    entry = SuppressionEntry.objects.select_related("data_key").get()
    raw = bytes(entry.template_enc)
    float32 = np.asarray(probe, dtype="<f4").tobytes()
    float16 = np.asarray(probe, dtype="<f2").tobytes()
    # Sealed, and smaller than the float32 embedding alone: the float16 template plus nonce and tag.
    assert raw != float32 and float32 not in raw and float16 not in raw and len(raw) < len(float32)
    opened = sealer_for(entry.data_key).open_bytes(
        raw, table=SUPPRESSION_TABLE, column="template_enc", row_id=entry.id
    )
    assert len(opened) == 256
    np.testing.assert_allclose(np.frombuffer(opened, dtype="<f2"), probe, atol=1e-3)
    # Bound to its row: the same bytes in another row do not open.
    with pytest.raises(DecryptionError):
        sealer_for(entry.data_key).open_bytes(
            raw, table=SUPPRESSION_TABLE, column="template_enc", row_id=uuid.uuid4()
        )
    # One service-wide key, not the request's (which is shredded with its personal data).
    assert entry.data_key.purpose == "removal.suppression" and entry.data_key_id != request.data_key_id
    # Nothing that names the subject or the request: a keyed hash of the request id only.
    assert {field.name for field in SuppressionEntry._meta.get_fields()} == {
        "id",
        "request_index",
        "data_key",
        "template_enc",
        "created_at",
        "expires_at",
    }
    assert str(request.id) not in entry.request_index and len(entry.request_index) == 64
    assert entry.expires_at - entry.created_at == pytest.approx(
        timedelta(days=1095), abs=timedelta(seconds=5)
    )
    [event] = _events(request, "suppression_entry_created")
    assert event == {"actor": "system", "expires_on": entry.expires_at.date().isoformat()}
    # Idempotent: a second call keeps the one entry.
    assert suppression_entry_create(request=request) == entry
    assert SuppressionEntry.objects.count() == 1


def test_the_service_key_is_made_once_and_shared_by_every_entry(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    first = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    second = _verified(make_request, photos, consent=True, email="another.request@example.org")

    suppression_entry_create(request=second.request)

    assert SuppressionEntry.objects.count() == 2
    assert SuppressionEntry.objects.values("data_key").distinct().count() == 1
    assert first.data_key_id not in SuppressionEntry.objects.values_list("data_key", flat=True)


def test_without_consent_nothing_biometric_remains_after_the_purge(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    photo_ingest(data=photos["obama2.jpg"])
    biden = photo_ingest(data=photos["biden.jpg"])
    result = _awaiting_review(make_request, photos, reviewer, consent=False)
    assert Candidate.objects.filter(request=result.request, decision="confirmed").count() == 1

    request = _approve(result.request, reviewer)
    _run_purge_jobs(request)

    assert not SuppressionEntry.objects.exists()
    assert not HeadshotProbe.objects.exists() and not Candidate.objects.exists()
    assert list(Face.objects.values_list("photo_id", flat=True)) == [biden.photo.id]  # type: ignore[union-attr]
    assert _events(request, "suppression_entry_created") == []
    # Nothing to refuse with: the same photo collected again is simply indexed again.
    assert photo_ingest(data=photos["obama2.jpg"]).outcome == "ingested"


def test_with_consent_the_template_outlives_the_purge_and_the_headshot_does_not(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    photo_ingest(data=photos["obama2.jpg"])
    request = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)

    _run_purge_jobs(request)

    assert not HeadshotProbe.objects.exists() and not Photo.objects.exists()
    assert SuppressionEntry.objects.count() == 1
    assert photo_ingest(data=photos["obama2.jpg"]).outcome == "suppressed"


def test_an_approval_without_a_headshot_keeps_nothing_even_with_consent(
    make_request: Any, reviewer: Any
) -> None:
    request = make_request(suppression_consent=True).request

    assert suppression_entry_create(request=request) is None
    assert not SuppressionEntry.objects.exists()


# --- The ingest check -----------------------------------------------------------------------------


def test_ingest_refuses_other_photos_of_the_subject_and_stores_nothing_of_them(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    before = _stored_files()

    refused = photo_ingest(data=photos["obama2.jpg"], source_url="https://example.org/o.jpg")

    assert refused.outcome == "suppressed" and refused.photo is None and refused.faces == 0
    assert not Photo.objects.exists() and not Face.objects.exists()
    assert _stored_files() == before
    assert photo_ingest(data=photos["biden.jpg"]).outcome == "ingested"


def test_the_ingest_command_counts_the_refusals(
    tmp_path: Path, make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    for name in ("obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.jpg"):
        (tmp_path / name).write_bytes(photos[name])
    out, err = StringIO(), StringIO()

    call_command("ingest_photos", str(tmp_path), stdout=out, stderr=err)

    assert out.getvalue() == "photos: 2, faces: 3, duplicates: 0, rejected: 0, suppressed: 2\n"
    assert "sup 2" in err.getvalue()
    assert Photo.objects.count() == 2


def test_a_list_decrypts_once_and_picks_up_entries_made_while_it_runs(
    make_request: Any,
    photos: dict[str, bytes],
    face_models: Any,
    reviewer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from removal.services import suppression

    opened: list[object] = []
    real_sealer_for = suppression.sealer_for

    def counting_sealer_for(key: Any) -> Any:
        opened.append(key)
        return real_sealer_for(key)

    monkeypatch.setattr(suppression, "sealer_for", counting_sealer_for)
    obama2, biden = _embedding(photos, "obama2.jpg"), _embedding(photos, "biden.jpg")
    templates = SuppressionList()
    assert not templates.matches_any([obama2])

    request = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    opened.clear()  # creating the entry sealed it

    results = [templates.matches_any([face]) for face in (obama2, biden, obama2, biden)]
    assert results == [True, False, True, False]
    assert len(opened) == 1  # decrypted once for the four photos

    suppression_withdraw(request=request, actor=SUBJECT)
    assert not templates.matches_any([obama2])


def test_a_photo_is_refused_when_any_of_its_faces_matches(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    templates = SuppressionList()
    obama3, biden = _embedding(photos, "obama3.jpg"), _embedding(photos, "biden.jpg")

    assert templates.matches_any([biden, obama3])
    assert not templates.matches_any([biden])
    assert not templates.matches_any([])
    # The distance is a setting: at 0.1 even another photo of the same person passes.
    assert not SuppressionList(max_distance=0.1).matches_any([obama3])


# --- Retention and withdrawal ---------------------------------------------------------------------


def test_expiry_deletes_entries_whose_retention_ended(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    entry = SuppressionEntry.objects.get()
    obama2 = _embedding(photos, "obama2.jpg")

    with time_machine.travel(entry.expires_at - timedelta(days=1)):
        assert suppression_entries_expire() == 0
        assert SuppressionList().matches_any([obama2])
    with time_machine.travel(entry.expires_at + timedelta(minutes=1)):
        # Past its date an entry no longer refuses anything, even before the daily expiry runs.
        assert not SuppressionList().matches_any([obama2])
        assert suppression_entries_expire() == 1

    assert not SuppressionEntry.objects.exists()
    event = AuditEvent.objects.get(action="suppression.entries_expired")
    assert event.actor == "system" and json.loads(event.payload)["details"]["deleted"] == 1


def test_withdrawal_after_approval_deletes_the_entry(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    request = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    # After completion too: the request record stays, so the keyed hash still finds the entry.
    RemovalRequest.objects.filter(id=request.id).update(status=Status.COMPLETED)
    request.refresh_from_db()

    assert suppression_withdraw(request=request, actor=SUBJECT)

    assert not SuppressionEntry.objects.exists()
    request.refresh_from_db()
    assert request.suppression_consent is False and request.suppression_consent_at is not None
    assert _events(request, "suppression_consent_changed")[-1] == {
        "actor": "subject",
        "consent": False,
        "entry_deleted": True,
    }
    assert not suppression_withdraw(request=request, actor=SUBJECT)  # nothing left to withdraw
    assert photo_ingest(data=photos["obama2.jpg"]).outcome == "ingested"


# --- Public pages and API -------------------------------------------------------------------------

FORM = {
    "name": "Zoë Quintero-Haddad",
    "email": "zoe@example.org",
    "right": "erasure",
    "jurisdictions": ["EU"],
}


def test_the_form_asks_for_consent_with_an_unticked_box_and_its_terms(client: Any) -> None:
    html = client.get(reverse("removal:request_form")).content.decode()
    found = re.search(r'<input[^>]*name="suppression_consent"[^>]*>', html)
    assert found is not None
    box = found.group(0)

    assert 'type="checkbox"' in box and "checked" not in box
    assert 'aria-describedby="id_suppression_consent_helptext"' in box
    assert (
        '<label class="choice" for="id_suppression_consent">' in html
        and "Keep a minimal, encrypted template of my face so that photos of me are refused if they are "
        "collected again."
        in html
    )
    assert (
        '<p class="help" id="id_suppression_consent_helptext">It is kept for 3 years, then deleted; '
        "without it we keep nothing of your face after the deletion.</p>" in html
    )


def test_the_terms_follow_the_retention_setting(client: Any, settings: Any) -> None:
    settings.SUPPRESSION_RETENTION_DAYS = 200
    assert (
        "It is kept for 200 days, then deleted"
        in client.get(reverse("removal:request_form")).content.decode()
    )
    settings.SUPPRESSION_RETENTION_DAYS = 365
    assert (
        "It is kept for 1 year, then deleted" in client.get(reverse("removal:request_form")).content.decode()
    )


@pytest.mark.parametrize(("ticked", "consent"), [({"suppression_consent": "on"}, True), ({}, False)])
def test_the_form_records_the_choice(
    client: Any, django_capture_on_commit_callbacks: Any, ticked: dict[str, str], consent: bool
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("removal:request_form"), {**FORM, **ticked})

    assert response.status_code == 302
    request = RemovalRequest.objects.get()
    assert request.suppression_consent is consent
    assert (request.suppression_consent_at is not None) is consent
    received = AuditEvent.objects.get(action="request.received")
    assert json.loads(received.payload)["details"]["suppression_consent"] is consent


def test_the_form_for_staff_does_not_offer_consent(staff_client: Any) -> None:
    html = staff_client.get(reverse("admin:removal_removalrequest_add")).content.decode()
    assert "suppression_consent" not in html


@pytest.mark.parametrize(("body", "consent"), [({"suppression_consent": True}, True), ({}, False)])
def test_the_api_accepts_consent_and_the_status_shows_it(
    client: Any, django_capture_on_commit_callbacks: Any, body: dict[str, Any], consent: bool
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("removal:api_intake"), {**FORM, **body}, content_type="application/json"
        )

    assert response.status_code == 202
    request = RemovalRequest.objects.get()
    assert request.suppression_consent is consent


def test_the_status_api_shows_consent_and_how_long_the_template_is_kept(
    client: Any, make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    result = _awaiting_review(make_request, photos, reviewer, consent=True)
    headers = {"HTTP_X_STATUS_TOKEN": result.status_token}
    before = client.get(reverse("removal:api_status"), **headers).json()
    assert before["suppression_consent"] is True and before["suppression_kept_until"] is None

    _approve(result.request, reviewer)

    after = client.get(reverse("removal:api_status"), **headers).json()
    assert after["suppression_kept_until"].startswith(
        SuppressionEntry.objects.get().expires_at.date().isoformat()
    )


def _status(client: Any, token: str) -> str:
    return client.get(f"{reverse('removal:status')}?t={token}").content.decode()


def _post_consent(client: Any, token: str, consent: str) -> Any:
    return client.post(
        reverse("removal:status"), {"t": token, "action": "suppression", "consent": consent}, follow=True
    )


def test_the_status_page_toggles_consent_with_an_audit_event(client: Any, make_request: Any) -> None:
    result = make_request()
    html = _status(client, result.status_token)
    assert "Refusing your photos in future" in html and "You did not ask us to keep anything" in html
    assert "Keep a template of my face" in html and "It is kept for 3 years" in html

    page = _post_consent(client, result.status_token, "yes").content.decode()

    request = RemovalRequest.objects.get(id=result.request.id)
    assert request.suppression_consent is True and request.suppression_consent_at is not None
    assert "we will keep a minimal, encrypted template of your face" in page
    assert "Don't keep a template of my face" in page
    page = _post_consent(client, result.status_token, "no").content.decode()
    assert RemovalRequest.objects.get(id=result.request.id).suppression_consent is False
    assert "Done: we will keep nothing of your face after the deletion." in page
    assert _events(request, "suppression_consent_changed") == [
        {"actor": "subject", "consent": True},
        {"actor": "subject", "consent": False, "entry_deleted": False},
    ]


def test_withdrawing_consent_on_the_status_page_before_approval_keeps_nothing(
    client: Any, make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    result = _awaiting_review(make_request, photos, reviewer, consent=True)

    _post_consent(client, result.status_token, "no")
    _approve(RemovalRequest.objects.get(id=result.request.id), reviewer)

    assert not SuppressionEntry.objects.exists()


def test_after_approval_the_status_page_shows_the_date_and_deletes_on_request(
    client: Any, make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    result = _awaiting_review(make_request, photos, reviewer, consent=True)
    _approve(result.request, reviewer)
    entry = SuppressionEntry.objects.get()

    html = _status(client, result.status_token)
    assert "We keep a minimal, encrypted template of your face until" in html
    assert entry.expires_at.strftime("%Y") in html and "Delete the template of my face now" in html
    # Too late to give consent once the purge is approved (the headshot is being destroyed).
    refused = _post_consent(client, result.status_token, "yes").content.decode()
    assert "It is too late to change this" in refused

    page = _post_consent(client, result.status_token, "no").content.decode()

    assert not SuppressionEntry.objects.exists()
    assert "We keep nothing of your face after the deletion." in page


def test_an_opt_out_has_no_face_and_no_suppression_section(client: Any, make_request: Any) -> None:
    result = make_request(right="opt_out", jurisdictions=["US-CA"])
    assert "Refusing your photos in future" not in _status(client, result.status_token)
    _post_consent(client, result.status_token, "yes")
    assert RemovalRequest.objects.get(id=result.request.id).suppression_consent is False


# --- Staff ----------------------------------------------------------------------------------------


def test_staff_list_entries_by_id_and_dates_and_deleting_one_is_audited(
    staff_client: Any, make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    request = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    entry = SuppressionEntry.objects.get()

    listing = staff_client.get(reverse("admin:removal_suppressionentry_changelist")).content.decode()
    assert str(entry.id) in listing and entry.request_index not in listing and "template_enc" not in listing
    detail = staff_client.get(
        reverse("admin:removal_suppressionentry_change", args=[entry.id])
    ).content.decode()
    assert request.reference not in detail and entry.request_index not in detail

    staff_client.post(
        reverse("admin:removal_suppressionentry_changelist"),
        {"action": "delete_selected", "_selected_action": [str(entry.id)], "post": "yes"},
    )

    assert not SuppressionEntry.objects.exists()
    event = AuditEvent.objects.get(action="suppression.entry_deleted")
    assert (event.actor, event.object_type, event.object_id) == (
        f"staff:{reviewer.pk}",
        "suppression_entry",
        str(entry.id),
    )


def test_nothing_about_the_template_reaches_the_audit_trail(
    make_request: Any, photos: dict[str, bytes], face_models: Any, reviewer: Any
) -> None:
    request = _approve(_awaiting_review(make_request, photos, reviewer, consent=True).request, reviewer)
    entry = SuppressionEntry.objects.get()
    trail = " ".join(AuditEvent.objects.values_list("payload", flat=True))

    assert str(entry.id) not in trail and entry.request_index not in trail
    assert vault_services.blind_index(str(request.id), purpose="removal.suppression.request") not in trail


@pytest.mark.parametrize(
    ("language", "heading", "kept_until"),
    [
        (
            "fr",
            "Refuser vos photos à l'avenir",
            "Nous conservons un modèle minimal et chiffré de votre visage",
        ),
        ("de", "Ihre Fotos künftig ablehnen", "Wir bewahren bis zum"),
    ],
)
def test_the_status_page_speaks_french_and_german(
    client: Any,
    make_request: Any,
    photos: dict[str, bytes],
    face_models: Any,
    reviewer: Any,
    language: str,
    heading: str,
    kept_until: str,
) -> None:
    result = _awaiting_review(make_request, photos, reviewer, consent=True)
    _approve(result.request, reviewer)

    html = client.get(
        f"{reverse('removal:status')}?t={result.status_token}", HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    assert heading in html and kept_until in html
