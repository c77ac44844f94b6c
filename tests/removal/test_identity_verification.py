"""The subject proves who they are through the status link: proportionate evidence, nothing of the ID kept."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from PIL import Image

from identity.models import HeadshotProbe, VerificationRecord
from identity.selectors import headshot_probe_embedding, headshot_probe_image
from ledger.entries import leaf_content
from ledger.models import AuditEvent
from removal import services
from removal.models import RemovalRequest, Status
from tests.conftest import error_fields, open_personal_data
from tests.identity.test_images import GPS_IFD, png_declaring
from tests.support.disk_writes import Write, files_written, programs_started, watching

pytestmark = pytest.mark.django_db
OBAMA_NAME = "Barack Hussein Obama"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # Rate-limit counters live in the cache; each test starts with none spent.
    cache.clear()


@pytest.fixture
def subject(make_request: Any) -> services.IntakeResult:
    result = make_request(name=OBAMA_NAME, email="barack@example.org")
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    result.request.refresh_from_db()
    return result


def _upload(client: Any, token: str, **files: bytes) -> Any:
    data = {
        name: SimpleUploadedFile(f"{name}.jpg", content, content_type="image/jpeg")
        for name, content in files.items()
    }
    return client.post(f"{reverse('removal:verify_identity')}?t={token}", data)


def _nothing_stored(request: RemovalRequest, status: Status = Status.RECEIVED) -> None:
    request.refresh_from_db()
    assert request.status == status
    assert not VerificationRecord.objects.exists() and not HeadshotProbe.objects.exists()


def test_headshot_and_confirmed_email_verify_an_erasure_where_no_document_is_required(
    client: Any, subject: services.IntakeResult, photos: dict[str, bytes], face_models: Any
) -> None:
    page = client.get(f"{reverse('removal:verify_identity')}?t={subject.status_token}").content.decode()
    assert (
        "A photo of your face" in page
        and "identity document" not in page.split("<form")[1].split("</form>")[0]
    )

    response = _upload(client, subject.status_token, headshot=photos["obama.jpg"])
    assert response.status_code == 302
    request = RemovalRequest.objects.get(id=subject.request.id)
    assert request.status == Status.VERIFIED
    record = VerificationRecord.objects.get()
    assert (record.method, record.outcome) == ("headshot_and_email", "verified")
    assert record.evidence_required == {"headshot": True, "document": False, "email_confirmed": True}
    actions = list(AuditEvent.objects.filter(object_id=str(request.id)).values_list("action", flat=True))
    assert actions[-3:] == ["request.start_verification", "request.identity_attempt", "request.verify"]

    probe = HeadshotProbe.objects.get()
    with default_storage.open(probe.storage_name, "rb") as handle:
        sealed = handle.read()
    assert not sealed.startswith(b"\xff\xd8") and b"JFIF" not in sealed  # encrypted at rest
    image = headshot_probe_image(subject_ref=services.subject_ref(request))
    assert image is not None and image.startswith(b"\xff\xd8")
    embedding = headshot_probe_embedding(subject_ref=services.subject_ref(request))
    assert embedding is not None and embedding.shape == (128,)


def _badge_and_text(client: Any, token: str) -> tuple[str, str]:
    page = client.get(f"{reverse('removal:status')}?t={token}").content.decode()
    badge = page.split('class="status-badge">')[1].split("<")[0]
    return badge, " ".join(page.split())


def test_a_headshot_and_an_email_are_never_called_an_identity_verified(
    client: Any, subject: services.IntakeResult, photos: dict[str, bytes], face_models: Any
) -> None:
    _upload(client, subject.status_token, headshot=photos["obama.jpg"])
    badge, text = _badge_and_text(client, subject.status_token)
    assert badge == "Photo checked"
    assert "Identity verified" not in text and "identity is confirmed" not in text
    assert (
        "What we checked: your photo shows one face, and you confirmed your e-mail address. We did not "
        "check your name or an identity document" in text
    )


def test_verification_waits_for_a_confirmed_email(
    client: Any, make_request: Any, photos: dict[str, bytes]
) -> None:
    result = make_request()
    response = _upload(client, result.status_token, headshot=photos["obama.jpg"])
    assert response.status_code == 400
    assert "First confirm your e-mail address" in response.content.decode()
    _nothing_stored(result.request)


def test_passport_and_headshot_of_the_same_person_verify_where_the_policy_asks_for_a_document(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    make_document: Any,
    settings: Any,
    face_models: Any,
) -> None:
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["EU"]
    passport = make_document("TD3", portrait="obama3.jpg")
    without = _upload(client, subject.status_token, headshot=photos["obama.jpg"])
    assert "Add a photo of your identity document." in without.content.decode()
    _nothing_stored(subject.request)

    _upload(client, subject.status_token, headshot=photos["obama.jpg"], document=passport)
    record = VerificationRecord.objects.get()
    assert (record.method, record.outcome) == ("document_and_headshot", "verified"), record.reasons
    assert record.document_type == "TD3" and record.check_digits_valid and record.expiry_valid
    assert len(record.document_number_hash) == 64 and "X4RT58N21" not in str(record.__dict__)
    assert RemovalRequest.objects.get(id=subject.request.id).status == Status.VERIFIED
    badge, text = _badge_and_text(client, subject.status_token)
    assert badge == "Identity verified"
    assert (
        "What we checked: your identity document (its machine-readable lines, expiry date and name)" in text
    )


def _passport_verification(
    client: Any, subject: services.IntakeResult, headshot: bytes, passport: bytes
) -> list[Write]:
    """Everything the process wrote or started while the real upload page verified a passport."""
    with watching() as recorded:
        response = _upload(client, subject.status_token, headshot=headshot, document=passport)
    assert response.status_code == 302
    return recorded


def test_a_verification_writes_no_file_but_the_sealed_headshot_and_hands_tesseract_no_file(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    make_document: Any,
    settings: Any,
    face_models: Any,
) -> None:
    """The whole path, from the request body to the response: the ID photo is never written, not even
    to a temporary file deleted before the verification returns (the forensic test sees only what is
    left). The sealed headshot goes to the storage backend (in memory here); tesseract reads stdin and
    writes stdout."""
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    recorded = _passport_verification(
        client, subject, photos["obama.jpg"], make_document("TD3", portrait="obama3.jpg")
    )
    assert VerificationRecord.objects.get().outcome == "verified" and HeadshotProbe.objects.exists()
    assert files_written(recorded) == []
    programs = programs_started(recorded)
    assert programs and all(p.target.split()[1:3] == ["stdin", "stdout"] for p in programs), programs


def test_the_write_guard_sees_an_id_photo_spooled_to_a_deleted_temporary_file(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    make_document: Any,
    settings: Any,
    face_models: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control: the mutation that passed every test before the guard (the ID photo written to a
    temporary file, deleted before the verification returns) is seen."""
    import tempfile

    from identity import pipeline

    original = pipeline.verify_identity

    def spooling(**kwargs: Any) -> Any:
        with tempfile.NamedTemporaryFile(suffix=".jpg") as spool:
            spool.write(kwargs["document"])
            spool.flush()
        return original(**kwargs)

    monkeypatch.setattr(pipeline, "verify_identity", spooling)
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    recorded = _passport_verification(
        client, subject, photos["obama.jpg"], make_document("TD3", portrait="obama3.jpg")
    )
    assert any(write.event == "tempfile.mkstemp" for write in files_written(recorded)), recorded
    assert len(files_written(recorded)) > 1


def test_a_failed_attempt_asks_for_a_retake_and_staff_decide_after_the_last(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    make_document: Any,
    settings: Any,
    reviewer: Any,
    face_models: Any,
) -> None:
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    settings.IDENTITY_MAX_ATTEMPTS = 2
    passport = make_document("TD3", portrait="obama3.jpg")

    _upload(client, subject.status_token, headshot=photos["biden.jpg"], document=passport)
    request = RemovalRequest.objects.get(id=subject.request.id)
    assert request.status == Status.AWAITING_SUBJECT and request.pending_ask == "clearer_photo"
    status_page = client.get(f"{reverse('removal:status')}?t={subject.status_token}").content.decode()
    assert "doesn&#x27;t match the portrait on your document" in status_page
    assert (
        "1 attempt left"
        in client.get(f"{reverse('removal:verify_identity')}?t={subject.status_token}").content.decode()
    )

    _upload(client, subject.status_token, headshot=photos["biden.jpg"], document=passport)
    request.refresh_from_db()
    assert request.status == Status.VERIFYING  # no attempt left: a person decides
    assert [r.outcome for r in VerificationRecord.objects.order_by("created_at")] == ["failed", "failed"]
    refused = _upload(client, subject.status_token, headshot=photos["obama.jpg"], document=passport)
    assert refused.status_code == 302  # the form is closed while staff decide

    services.removal_request_decide_identity(
        request=request,
        actor=services.Actor.staff(reviewer),
        finding="face_does_not_match",
    )
    request.refresh_from_db()
    assert request.status == Status.DENIED and request.denial_basis == "identity_not_verified"
    staff_record = VerificationRecord.objects.latest("created_at")
    assert (staff_record.method, staff_record.decided_by) == ("staff_review", reviewer)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.7\n1 0 obj<<>>endobj\n", "PDF"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "damaged"),
    ],
)
def test_a_bad_upload_is_refused_with_a_clear_message_and_nothing_stored(
    client: Any, subject: services.IntakeResult, content: bytes, message: str
) -> None:
    response = _upload(client, subject.status_token, headshot=content)
    assert response.status_code == 400
    assert message.lower() in response.content.decode().lower()
    _nothing_stored(subject.request)


def test_a_blank_id_document_is_refused_up_front_and_spends_no_attempt(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    settings: Any,
    face_models: Any,
) -> None:
    """A blank or one-colour "document" is not a document: refused before any check, in the subject's
    language, nothing recorded, the attempt not counted, and the words ("take the photo again") true."""
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    settings.IDENTITY_MAX_ATTEMPTS = 1
    blank = io.BytesIO()
    Image.new("RGB", (2400, 1600), (250, 250, 250)).save(blank, format="JPEG")
    response = _upload(client, subject.status_token, headshot=photos["obama.jpg"], document=blank.getvalue())
    assert response.status_code == 400
    assert "shows one colour and nothing else" in response.content.decode()
    _nothing_stored(subject.request)
    # The one attempt is still there, and the form still open: the subject can do what they were told.
    form = client.get(f"{reverse('removal:verify_identity')}?t={subject.status_token}")
    assert form.status_code == 200 and "1 attempt left" in form.content.decode()
    german = client.post(
        f"{reverse('removal:verify_identity')}?t={subject.status_token}",
        {
            "headshot": SimpleUploadedFile("h.jpg", photos["obama.jpg"], content_type="image/jpeg"),
            "document": SimpleUploadedFile("d.jpg", blank.getvalue(), content_type="image/jpeg"),
        },
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert german.status_code == 400 and "nur eine Farbe" in german.content.decode()
    _nothing_stored(subject.request)


def test_an_oversized_upload_is_refused_with_413(
    client: Any, subject: services.IntakeResult, settings: Any
) -> None:
    limit = settings.IDENTITY_UPLOAD_MAX_BYTES
    response = _upload(client, subject.status_token, headshot=b"\xff\xd8\xff" + b"\x00" * (limit + 10))
    assert response.status_code == 413
    _nothing_stored(subject.request)


def test_uploads_are_rate_limited_per_request(
    client: Any, subject: services.IntakeResult, settings: Any
) -> None:
    settings.IDENTITY_UPLOAD_RATE_PER_REQUEST = "2/h"
    codes = [_upload(client, subject.status_token, headshot=b"not an image").status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    _nothing_stored(subject.request)


def test_an_opt_out_needs_no_verification(client: Any, make_request: Any) -> None:
    result = make_request(right="opt_out", jurisdictions=["US-CA"])
    status_page = client.get(f"{reverse('removal:status')}?t={result.status_token}").content.decode()
    assert "Send my photos" not in status_page
    assert client.get(f"{reverse('removal:verify_identity')}?t={result.status_token}").status_code == 302
    with pytest.raises(services.InvalidRequest, match="needs no proof"):
        services.removal_request_submit_identity(
            request=result.request, headshot=b"x", document=None, actor=services.SUBJECT
        )


def test_staff_see_the_derived_facts_and_the_headshot_and_decide_an_inconclusive_case(
    client: Any,
    staff_client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    reviewer: Any,
    face_models: Any,
) -> None:
    _upload(client, subject.status_token, headshot=photos["obama.jpg"])
    request = RemovalRequest.objects.get(id=subject.request.id)
    # Pretend the checks left it open, as an inconclusive face comparison would.
    RemovalRequest.objects.filter(id=request.id).update(status=Status.VERIFYING)
    change = reverse("admin:removal_removalrequest_change", args=[request.id])
    html = staff_client.get(change).content.decode()
    assert "Headshot and confirmed e-mail" in html and "no issues" in html
    headshot_url = reverse("admin:removal_headshot", args=[request.id])
    assert headshot_url not in html
    open_personal_data(staff_client, request, reason="identity_review")
    html = staff_client.get(change).content.decode()
    assert headshot_url in html
    image = staff_client.get(headshot_url)
    assert image["Content-Type"] == "image/jpeg" and "no-store" in image["Cache-Control"]
    viewed = AuditEvent.objects.get(action="request.personal_data_viewed", actor=f"staff:{reviewer.pk}")
    assert leaf_content(viewed.payload).details == {"reason": "identity_review"}
    assert Client().get(headshot_url).status_code == 302  # the public never sees it

    decide = reverse("admin:removal_move", args=[request.id, "decide_identity"])
    assert decide in html
    staff_client.post(decide, {"finding": "face_matches_on_review"})
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    assert VerificationRecord.objects.latest("created_at").decided_by == reviewer


def test_the_api_takes_the_same_photos_with_the_same_limits(
    subject: services.IntakeResult, photos: dict[str, bytes], settings: Any, face_models: Any
) -> None:
    api = Client()
    url = reverse("removal:api_identity")
    token = {"X-Status-Token": subject.status_token}
    assert api.post(url, {}, headers={"X-Status-Token": "wrong"}).status_code == 404
    bad = api.post(url, {"headshot": SimpleUploadedFile("h.jpg", b"plain text", "image/jpeg")}, headers=token)
    assert bad.status_code == 400 and "headshot" in error_fields(bad)
    _nothing_stored(subject.request)
    big = b"\xff\xd8\xff" + b"\x00" * (settings.IDENTITY_UPLOAD_MAX_BYTES + 1)
    too_big = api.post(url, {"headshot": SimpleUploadedFile("h.jpg", big, "image/jpeg")}, headers=token)
    assert too_big.status_code == 413 and too_big["Content-Type"] == "application/problem+json"
    assert too_big.json()["code"] == "file_too_large" and too_big.json()["status"] == 413
    ok = api.post(
        url, {"headshot": SimpleUploadedFile("h.jpg", photos["obama.jpg"], "image/jpeg")}, headers=token
    )
    assert ok.json() == {"outcome": "verified", "reasons": [], "attempts_left": 2, "status": "verified"}
    again = api.post(
        url, {"headshot": SimpleUploadedFile("h.jpg", photos["obama.jpg"], "image/jpeg")}, headers=token
    )
    assert again.status_code == 409


def test_a_bad_upload_is_explained_in_the_subjects_language(subject: services.IntakeResult) -> None:
    from django.utils import translation

    french = Client(HTTP_ACCEPT_LANGUAGE="fr")
    try:
        response = _upload(french, subject.status_token, headshot=b"plain text")
    finally:
        # The request activated French for this thread: later tests expect the default language.
        translation.deactivate()
    assert response.status_code == 400
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Ce fichier n&#x27;est pas une photo (quel que soit son nom)." in page
    assert "This file is not a photo" not in page
    _nothing_stored(subject.request)


# --- Headshots the checks refuse, and the metadata a kept headshot loses --------------------------


def _jpeg(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


def _no_face(photos: dict[str, bytes]) -> bytes:
    # A soft gradient the size of a phone photo: an image the decoder accepts, with nobody in it.
    return _jpeg(Image.linear_gradient("L").resize((640, 480)).convert("RGB"))


def _two_faces(photos: dict[str, bytes]) -> bytes:
    # Two people posing together: two fixture portraits scaled to one height, side by side.
    people = [Image.open(io.BytesIO(photos[name])).convert("RGB") for name in ("obama.jpg", "biden.jpg")]
    height = min(person.height for person in people)
    people = [person.resize((round(person.width * height / person.height), height)) for person in people]
    group = Image.new("RGB", (sum(person.width for person in people), height), "white")
    left = 0
    for person in people:
        group.paste(person, (left, 0))
        left += person.width
    return _jpeg(group)


def _bomb(photos: dict[str, bytes]) -> bytes:
    # A few kilobytes whose header claims 50,000 x 50,000 pixels (2.5 gigapixels).
    bomb = png_declaring(50_000, 50_000)
    assert len(bomb) < 100_000
    return bomb


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            _no_face,
            "We couldn't find a face. Face the camera, in good light, without sunglasses or anything "
            "covering your face.",
            id="no-face",
        ),
        pytest.param(
            _two_faces,
            "We see more than one face. Take the photo with only your face in the frame.",
            id="two-faces",
        ),
        pytest.param(
            _bomb,
            "The photo has more than 40 megapixels. Send it at a smaller size (for example by taking a "
            "screenshot of it).",
            id="decompression-bomb",
        ),
    ],
)
def test_a_headshot_the_checks_cannot_use_is_refused_beside_the_field_and_nothing_stored(
    client: Any,
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    face_models: Any,
    make: Any,
    message: str,
) -> None:
    response = _upload(client, subject.status_token, headshot=make(photos))
    assert response.status_code == 400
    page = response.content.decode()
    # Shown where the person looks: in the summary, linked to the field, and beside the field itself.
    assert f'<li><a href="#id_headshot">{escape(message)}</a></li>' in page
    assert f'<ul class="errorlist" id="id_headshot_error"><li>{escape(message)}</li></ul>' in page
    _nothing_stored(subject.request)
    assert services.attempts_left(subject.request) == 3  # a photo to retake costs no attempt
    assert not AuditEvent.objects.filter(action="request.identity_attempt").exists()


def test_gps_and_camera_metadata_never_reach_the_stored_headshot(
    client: Any, subject: services.IntakeResult, photos: dict[str, bytes], face_models: Any
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    with Image.open(io.BytesIO(photos["obama.jpg"])) as original:
        tagged = _jpeg(original.convert("RGB"), exif=exif.tobytes(), comment=b"taken at home")
    with Image.open(io.BytesIO(tagged)) as img:
        assert img.getexif().get_ifd(GPS_IFD), "the upload must carry GPS data to begin with"
    assert b"Exif" in tagged and b"PhoneMaker" in tagged

    response = _upload(client, subject.status_token, headshot=tagged)
    assert response.status_code == 302
    request = RemovalRequest.objects.get(id=subject.request.id)
    assert request.status == Status.VERIFIED

    stored = headshot_probe_image(subject_ref=services.subject_ref(request))
    assert stored is not None and stored.startswith(b"\xff\xd8")
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "JPEG"
        assert not img.getexif()
        assert not img.getexif().get_ifd(GPS_IFD)
        assert not {"exif", "comment", "icc_profile", "xmp"} & set(img.info)
    # No APP1 (EXIF/XMP) or COM segment at all: 0xFF is byte-stuffed in the scan data, so these
    # two-byte markers can only be segment headers.
    assert b"\xff\xe1" not in stored and b"\xff\xfe" not in stored
    for marker in (b"Exif", b"PhoneMaker", b"Model X", b"taken at home"):
        assert marker not in stored


def test_the_api_tells_the_reasons_in_the_clients_language(
    subject: services.IntakeResult,
    photos: dict[str, bytes],
    make_document: Any,
    settings: Any,
    face_models: Any,
) -> None:
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    files = {
        "headshot": SimpleUploadedFile("h.jpg", photos["biden.jpg"], "image/jpeg"),
        "document": SimpleUploadedFile("d.jpg", make_document("TD3", portrait="obama3.jpg"), "image/jpeg"),
    }
    answer = (
        Client()
        .post(
            reverse("removal:api_identity"),
            files,
            headers={"X-Status-Token": subject.status_token, "Accept-Language": "fr"},
        )
        .json()
    )
    assert answer["outcome"] == "failed"
    mismatch = next(r for r in answer["reasons"] if r["code"] == "face_mismatch")
    assert mismatch["message"].startswith("Le visage sur votre photo ne correspond pas")
    stored = VerificationRecord.objects.get().reasons
    assert any("doesn't match" in r["message"] for r in stored)  # kept in English, told in French


def test_a_failure_after_the_headshot_was_written_leaves_no_file_behind(
    client: Any, subject: services.IntakeResult, photos: dict[str, bytes], face_models: Any, monkeypatch: Any
) -> None:
    from removal.services import verification

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    def stored_files() -> set[str]:
        return set(default_storage.listdir("headshots")[1]) if default_storage.exists("headshots") else set()

    before = stored_files()
    monkeypatch.setattr(verification, "audit_request_event", broken)
    with pytest.raises(RuntimeError):
        verification.removal_request_submit_identity(
            request=subject.request, headshot=photos["obama.jpg"], document=None, actor=services.SUBJECT
        )
    _nothing_stored(subject.request)
    assert stored_files() == before
