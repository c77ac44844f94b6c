"""What the identity check established, said the same way to the subject and to staff (issue 14, item 1;
issue 13, item 4): a headshot and a confirmed address are a photo checked, not an identity verified,
and what the face search found is said once it is known."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from identity import services as identity_services
from identity.models import VerificationRecord
from removal.identity_check import identity_check
from removal.models import Candidate, RemovalRequest, Status
from removal.roles import REVIEWER
from removal.selectors import hash_status_token
from removal.services.common import subject_ref
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

TOKEN = "a-status-token-for-the-check-tests"


def _checked_by(request: RemovalRequest, method: str) -> None:
    identity_services.verification_record_create(
        subject_ref=subject_ref(request),
        method=method,
        decision=None,
        outcome=VerificationRecord.Outcome.VERIFIED,
        evidence_required={"headshot": True, "document": False, "email_confirmed": True},
    )
    RemovalRequest.objects.filter(id=request.id).update(status_token_hash=hash_status_token(TOKEN))


def _status_text(client: Any) -> str:
    return " ".join(client.get(f"{reverse('removal:status')}?t={TOKEN}").content.decode().split())


def test_the_subject_and_staff_read_what_was_checked_and_what_the_search_found(
    client: Any, reviewed: RemovalRequest, make_staff: Any
) -> None:
    _checked_by(reviewed, VerificationRecord.Method.HEADSHOT_AND_EMAIL)
    found = Candidate.objects.filter(request=reviewed).count()
    assert found > 1

    text = _status_text(client)
    assert "What we checked: your photo shows one face, and you confirmed your e-mail address." in text
    assert (
        f"We compared your photo with the photos we hold: {found} may show you. A member of our team "
        "looks at each one before anything is deleted." in text
    )
    assert "Identity verified" not in text

    staff = sign_in(client, make_staff(REVIEWER, "rita"))
    page = " ".join(staff.get(reverse("workspace:request", args=[reviewed.id])).content.decode().split())
    assert (
        "<dt>Identity check</dt><dd>Checked: the headshot shows one face and the e-mail address was "
        "confirmed. Not checked: the name or an identity document" in page
    )


def test_a_search_that_found_nothing_says_so(client: Any, reviewed: RemovalRequest) -> None:
    _checked_by(reviewed, VerificationRecord.Method.HEADSHOT_AND_EMAIL)
    Candidate.objects.filter(request=reviewed).delete()
    assert "We compared your photo with the photos we hold and found none of you." in _status_text(client)


def test_while_verified_the_status_is_named_for_the_method(verified_request: RemovalRequest) -> None:
    _checked_by(verified_request, VerificationRecord.Method.HEADSHOT_AND_EMAIL)
    check = identity_check(request=verified_request)
    assert check is not None and check.status_label == "Photo checked" and check.found == ""
    # A staff decision on review, as a document would, verifies the identity.
    _checked_by(verified_request, VerificationRecord.Method.STAFF_REVIEW)
    check = identity_check(request=verified_request)
    assert check is not None and check.status_label == "Identity verified"
    RemovalRequest.objects.filter(id=verified_request.id).update(status=Status.RECEIVED)
    verified_request.refresh_from_db()
    assert identity_check(request=verified_request) is None


def test_lists_never_say_identity_verified_for_a_photo(
    client: Any, verified_request: RemovalRequest, make_staff: Any
) -> None:
    _checked_by(verified_request, VerificationRecord.Method.HEADSHOT_AND_EMAIL)
    staff = sign_in(client, make_staff(REVIEWER, "rita"))
    queue = staff.get(reverse("workspace:queue"), {"view": "open"}).content.decode()
    assert verified_request.reference in queue and "Identity verified" not in queue and "Checked" in queue
    page = staff.get(reverse("workspace:request", args=[verified_request.id])).content.decode()
    assert '<span class="status-badge">Photo checked</span>' in page
