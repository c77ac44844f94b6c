"""The staff sign-in: password, then a second factor; set-up on the first sign-in; lockout; session
limits; every step on the record, by account id only."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger.entries import leaf_content
from ledger.models import AuditEvent
from removal.roles import REVIEWER
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

PASSWORD = "a long staff password"


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def _password(client: Client, username: str, password: str = PASSWORD, next_url: str = "") -> Any:
    url = reverse("workspace:login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": username, "password": password, "next": next_url})


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=f"account.{action}"))


@pytest.fixture
def rita(make_staff: Any) -> Any:
    return make_staff(REVIEWER, username="rita")


@pytest.fixture
def enrolled(rita: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=rita, name="phone", confirmed=True)


def test_a_first_sign_in_sets_up_the_authenticator_before_anything_else_opens(
    client: Client, rita: Any
) -> None:
    response = _password(client, "rita", next_url="/staff/account/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("workspace:enrol"))
    # The password alone opens nothing: not the workspace, not the admin, not the staff API.
    assert client.get(reverse("workspace:home"))["Location"].startswith(reverse("workspace:enrol"))
    assert client.get(reverse("admin:index")).status_code == 302
    assert client.get(reverse("removal:api_staff_requests")).status_code == 403

    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page and "Set up your authenticator" in page
    device = TOTPDevice.objects.get(user=rita, confirmed=False)
    wrong = client.post(reverse("workspace:enrol"), {"token": "000000", "next": "/staff/account/"})
    assert "does not match" in wrong.content.decode()
    done = client.post(reverse("workspace:enrol"), {"token": _code(device), "next": "/staff/account/"})
    page = done.content.decode()
    assert "Your recovery codes" in page
    assert StaticToken.objects.filter(device__user=rita).count() == 10
    assert all(token.token in page for token in StaticToken.objects.filter(device__user=rita))
    assert client.get(reverse("workspace:home")).status_code == 200
    assert [leaf_content(e.payload).details for e in _events("factor_enrolled")] == [{"factor": "totp"}]


def test_a_signed_in_account_gives_its_code_and_a_recovery_code_works_once(
    client: Client, rita: Any, enrolled: TOTPDevice
) -> None:
    response = _password(client, "rita")
    assert response["Location"].startswith(reverse("workspace:second_factor"))
    # With a factor set up, the set-up page does not let a password alone add another one.
    assert client.get(reverse("workspace:enrol"))["Location"].startswith(reverse("workspace:second_factor"))
    assert client.post(reverse("workspace:second_factor"), {"token": _code(enrolled)}).status_code == 302
    assert client.get(reverse("workspace:home")).status_code == 200
    assert [leaf_content(e.payload).details for e in _events("logged_in")] == [{"factor": "totp"}]

    other = Client()
    _password(other, "rita")
    page = other.post(reverse("workspace:recovery_codes"))
    assert page.status_code == 302  # not verified yet: sent to the second factor
    signed_in = sign_in(Client(), rita)  # a second session (a code from the app works only once)
    codes_page = signed_in.post(reverse("workspace:recovery_codes")).content.decode()
    code = StaticToken.objects.filter(device__user=rita).first()
    assert code is not None and code.token in codes_page
    _password(other, "rita")
    assert other.post(reverse("workspace:second_factor"), {"token": code.token}).status_code == 302
    assert other.get(reverse("workspace:home")).status_code == 200
    again = Client()
    _password(again, "rita")
    refused = again.post(reverse("workspace:second_factor"), {"token": code.token})
    assert "not right" in refused.content.decode()


def test_wrong_passwords_lock_the_account_and_the_right_one_then_fails_too(
    client: Client, rita: Any, enrolled: TOTPDevice, settings: Any
) -> None:
    """The finding: 15 wrong passwords in a row all got the form again, and the right one then worked."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _password(client, "rita", "wrong password").status_code == 200
    locked = _password(client, "rita", "wrong password")
    assert locked.status_code == 429 and "Account locked" in locked.content.decode()
    right = _password(Client(REMOTE_ADDR="198.51.100.7"), "rita")
    assert right.status_code == 429  # the account is locked, wherever the next try comes from
    assert len(_events("login_failed")) >= settings.AXES_FAILURE_LIMIT
    assert _events("locked_out")
    for event in _events("login_failed") + _events("locked_out"):
        assert event.actor == "anonymous" and event.object_id == str(rita.pk)
        assert "rita" not in event.payload and "127.0.0.1" not in event.payload


def test_wrong_codes_count_towards_the_same_lockout(
    client: Client, rita: Any, enrolled: TOTPDevice, settings: Any
) -> None:
    _password(client, "rita")
    answers = [
        client.post(reverse("workspace:second_factor"), {"token": "123456"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert answers[-1] == 429
    assert client.get(reverse("workspace:home"))["Location"].startswith(reverse("workspace:login"))
    assert _password(Client(), "rita").status_code == 429


def test_an_unknown_account_and_a_non_staff_account_get_the_same_answer(
    client: Client, outsider: Any
) -> None:
    unknown = _password(client, "nobody-here", "whatever password").content.decode()
    not_staff = _password(client, "otto.outsider", "another long password").content.decode()
    assert "Please enter a correct username and password" in unknown
    assert "Please enter a correct username and password" in not_staff
    failures = _events("login_failed")
    assert failures[0].object_id == "unknown" and "nobody-here" not in failures[0].payload


def test_an_off_site_next_lands_on_the_workspace_not_elsewhere(
    client: Client, rita: Any, enrolled: TOTPDevice
) -> None:
    _password(client, "rita", next_url="https://evil.example/")
    response = client.post(
        reverse("workspace:second_factor"), {"token": _code(enrolled), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("workspace:home")


def test_an_idle_or_old_session_is_signed_out(
    client: Client, rita: Any, enrolled: TOTPDevice, settings: Any
) -> None:
    _password(client, "rita")
    client.post(reverse("workspace:second_factor"), {"token": _code(enrolled)})
    assert client.get(reverse("workspace:home")).status_code == 200
    session = client.session
    session["staff.seen"] = time.time() - settings.STAFF_IDLE_MINUTES * 60 - 5
    session.save()
    response = client.get(reverse("workspace:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("workspace:login"))
    assert [leaf_content(e.payload).details for e in _events("logged_out")] == [{"reason": "idle"}]

    _password(client, "rita")
    client.post(reverse("workspace:second_factor"), {"token": _code(enrolled)})
    session = client.session
    session["staff.started"] = time.time() - settings.STAFF_SESSION_HOURS * 3600 - 5
    session.save()
    assert client.get(reverse("workspace:home")).status_code == 302
    assert leaf_content(_events("logged_out")[-1].payload).details == {"reason": "session_too_old"}


def test_the_admin_needs_the_second_factor_too(client: Client, reviewer: Any) -> None:
    client.force_login(reviewer)  # a password-only session
    for url in (reverse("admin:index"), reverse("admin:removal_removalrequest_changelist")):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("workspace:login"))
        assert "Sign in" in response.content.decode()


def test_signing_out_is_recorded_and_needs_a_post(client: Client, rita: Any, enrolled: TOTPDevice) -> None:
    _password(client, "rita")
    client.post(reverse("workspace:second_factor"), {"token": _code(enrolled)})
    assert client.get(reverse("workspace:logout")).status_code == 405
    client.post(reverse("workspace:logout"))
    assert client.get(reverse("workspace:home")).status_code == 302
    assert [e.actor for e in _events("logged_out")] == [f"staff:{rita.pk}"]


def test_a_passkey_cannot_be_added_with_a_password_alone_once_a_factor_exists(
    client: Client, rita: Any, enrolled: TOTPDevice, outsider: Any
) -> None:
    begin = reverse("otp_webauthn:credential-registration-begin")
    assert Client().post(begin, content_type="application/json").status_code in (401, 403)
    _password(client, "rita")  # password only: the authenticator app must be used first
    refused = client.post(begin, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "user_not_verified"
    client.post(reverse("workspace:second_factor"), {"token": _code(enrolled)})
    assert client.post(begin, content_type="application/json").status_code == 200


def test_passkeys_are_for_staff_accounts_only(client: Client, outsider: Any) -> None:
    client.force_login(outsider)
    answer = client.post(
        reverse("otp_webauthn:credential-registration-begin"), content_type="application/json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "staff_only"
