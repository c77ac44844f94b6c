"""Every rate limit counts per client, as config.client_ip names the client, in both deployments.

Direct: the web server faces the internet (TRUSTED_PROXY_COUNT=0); X-Forwarded-For is the client's
own words and must change nothing. Behind our reverse proxy (TRUSTED_PROXY_COUNT=1): every request
arrives from the proxy's address, and the client is the address the proxy appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from removal.models import RemovalRequest
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
INTAKE = {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["GB"]}
MADE_UP = ["203.0.113.7", "198.51.100.1", "192.0.2.55", "2001:db8::1", "unknown"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def direct(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def behind_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


def _api_intake(client: Client, capture: Any, **meta: Any) -> int:
    with capture(execute=True):
        response = client.post(reverse("removal:api_intake"), INTAKE, content_type="application/json", **meta)
    return response.status_code


def test_a_made_up_forwarded_address_does_not_reset_the_api_intake_limit(
    direct: None, settings: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    settings.API_INTAKE_RATE = "3/minute"
    client = Client(REMOTE_ADDR="198.51.100.20")
    assert [_api_intake(client, django_capture_on_commit_callbacks) for _ in range(4)] == [202, 202, 202, 429]
    mails_before = len(mailoutbox)

    codes = [
        _api_intake(client, django_capture_on_commit_callbacks, HTTP_X_FORWARDED_FOR=made_up)
        for made_up in MADE_UP
    ]

    assert codes == [429] * len(MADE_UP)
    assert len(mailoutbox) == mails_before, "a refused post must not e-mail anyone"
    assert RemovalRequest.objects.count() == 1


def test_behind_the_proxy_each_client_has_its_own_api_intake_budget(
    behind_proxy: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.API_INTAKE_RATE = "2/minute"
    client = Client(REMOTE_ADDR=PROXY)

    def post(forwarded: str) -> int:
        return _api_intake(client, django_capture_on_commit_callbacks, HTTP_X_FORWARDED_FOR=forwarded)

    assert [post("198.51.100.1") for _ in range(3)] == [202, 202, 429]
    assert post("198.51.100.2") == 202, "another client behind the same proxy is not refused"
    # What the client wrote left of the proxy's entry is ignored: this is still 198.51.100.1.
    assert post("203.0.113.9, 198.51.100.1") == 429


def _form_post(client: Client, **meta: Any) -> int:
    return client.post(reverse("removal:request_form"), {}, **meta).status_code


def test_the_form_limit_ignores_a_forwarded_address_sent_directly(direct: None, settings: Any) -> None:
    settings.INTAKE_FORM_RATE_PER_IP = "2/h"
    client = Client(REMOTE_ADDR="198.51.100.20")
    assert [_form_post(client) for _ in range(3)] == [400, 400, 429]
    assert [_form_post(client, HTTP_X_FORWARDED_FOR=made_up) for made_up in MADE_UP] == [429] * len(MADE_UP)


def test_behind_the_proxy_the_form_limit_counts_per_client_not_for_all(
    behind_proxy: None, settings: Any
) -> None:
    settings.INTAKE_FORM_RATE_PER_IP = "2/h"
    client = Client(REMOTE_ADDR=PROXY)
    # Twenty clients behind one proxy, two posts each: nobody is refused.
    for n in range(20):
        assert [_form_post(client, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") for _ in range(2)] == [400, 400]
    assert _form_post(client, HTTP_X_FORWARDED_FOR="198.51.100.0") == 429
    assert _form_post(client, HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.0") == 429
    assert _form_post(client, HTTP_X_FORWARDED_FOR="198.51.100.99") == 400


def test_behind_the_proxy_a_request_without_the_proxys_header_counts_against_the_proxy(
    behind_proxy: None, settings: Any
) -> None:
    settings.INTAKE_FORM_RATE_PER_IP = "1/h"
    client = Client(REMOTE_ADDR=PROXY)
    assert [_form_post(client) for _ in range(2)] == [400, 429]
    assert _form_post(client, HTTP_X_FORWARDED_FOR="198.51.100.5") == 400


def test_an_ipv6_client_is_one_client_across_its_64(direct: None, settings: Any) -> None:
    settings.INTAKE_FORM_RATE_PER_IP = "2/h"
    codes = [_form_post(Client(REMOTE_ADDR=f"2001:db8:1:2::{host:x}")) for host in (1, 0xBEEF, 0xFFFF)]
    assert codes == [400, 400, 429]


@pytest.fixture
def status_token(make_request: Any) -> str:
    result = make_request()
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    return result.status_token


def _upload_by_form(client: Client, token: str, **meta: Any) -> int:
    files = {"headshot": SimpleUploadedFile("h.jpg", b"not an image", content_type="image/jpeg")}
    return client.post(f"{reverse('removal:verify_identity')}?t={token}", files, **meta).status_code


def _upload_by_api(client: Client, token: str, **meta: Any) -> int:
    files = {"headshot": SimpleUploadedFile("h.jpg", b"not an image", content_type="image/jpeg")}
    return client.post(reverse("removal:api_identity"), files, HTTP_X_STATUS_TOKEN=token, **meta).status_code


def test_form_and_api_uploads_share_one_budget_per_client(
    direct: None, settings: Any, status_token: str
) -> None:
    settings.IDENTITY_UPLOAD_RATE_PER_IP = "2/h"
    client = Client(REMOTE_ADDR="198.51.100.20")
    assert _upload_by_form(client, status_token) == 400
    assert _upload_by_api(client, status_token) == 400
    assert _upload_by_form(client, status_token) == 429
    assert _upload_by_api(client, status_token) == 429
    assert _upload_by_api(client, status_token, HTTP_X_FORWARDED_FOR="203.0.113.7") == 429


def test_form_and_api_uploads_share_one_budget_per_request(
    direct: None, settings: Any, status_token: str
) -> None:
    settings.IDENTITY_UPLOAD_RATE_PER_REQUEST = "2/h"
    # From three addresses: the per-request limit follows the status link, not the client.
    assert _upload_by_form(Client(REMOTE_ADDR="198.51.100.1"), status_token) == 400
    assert _upload_by_api(Client(REMOTE_ADDR="198.51.100.2"), status_token) == 400
    assert _upload_by_form(Client(REMOTE_ADDR="198.51.100.3"), status_token) == 429
    assert _upload_by_api(Client(REMOTE_ADDR="198.51.100.3"), status_token) == 429


def test_behind_the_proxy_uploads_count_per_client(
    behind_proxy: None, settings: Any, status_token: str
) -> None:
    settings.IDENTITY_UPLOAD_RATE_PER_IP = "1/h"
    client = Client(REMOTE_ADDR=PROXY)
    assert _upload_by_form(client, status_token, HTTP_X_FORWARDED_FOR="198.51.100.1") == 400
    assert _upload_by_api(client, status_token, HTTP_X_FORWARDED_FOR="198.51.100.1") == 429
    assert _upload_by_api(client, status_token, HTTP_X_FORWARDED_FOR="198.51.100.2") == 400


def _receipt_check(client: Client, **meta: Any) -> int:
    return client.post(reverse("removal:receipt_verify"), {"document": "{}"}, **meta).status_code


def test_receipt_checks_count_per_client_in_both_deployments(settings: Any) -> None:
    settings.RECEIPT_VERIFY_RATE_PER_IP = "1/h"
    settings.TRUSTED_PROXY_COUNT = 0
    direct_client = Client(REMOTE_ADDR="198.51.100.20")
    assert _receipt_check(direct_client) == 200
    assert _receipt_check(direct_client, HTTP_X_FORWARDED_FOR="203.0.113.7") == 429

    cache.clear()
    settings.TRUSTED_PROXY_COUNT = 1
    proxied = Client(REMOTE_ADDR=PROXY)
    assert _receipt_check(proxied, HTTP_X_FORWARDED_FOR="198.51.100.1") == 200
    assert _receipt_check(proxied, HTTP_X_FORWARDED_FOR="198.51.100.2") == 200
    assert _receipt_check(proxied, HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1") == 429
