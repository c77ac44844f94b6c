from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from ledger.models import AuditEvent
from removal import services
from removal.models import RemovalRequest, Status
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = pytest.mark.django_db

FORM = {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["EU", "US-CA"]}


def _submit(client: Any, data: dict[str, Any], django_capture_on_commit_callbacks: Any) -> Any:
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("removal:request_form"), data)


def test_form_page_has_labelled_fields(client: Any) -> None:
    html = client.get(reverse("removal:request_form")).content.decode()
    assert '<label for="id_name">Your full name' in html
    assert '<label for="id_email">Your e-mail address' in html
    assert "<legend>Where do you live?" in html
    assert 'name="viewport"' in html and 'autocomplete="email"' in html


def test_submitting_the_form_creates_a_request_and_says_check_your_email(
    client: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    response = _submit(client, FORM, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == reverse("removal:submitted")
    request = RemovalRequest.objects.get()
    assert request.channel == "web" and len(mailoutbox) == 2
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()


def test_a_duplicate_submission_gets_the_same_answer(
    client: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    first = _submit(client, FORM, django_capture_on_commit_callbacks)
    second = _submit(client, {**FORM, "jurisdictions": ["EU"]}, django_capture_on_commit_callbacks)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert RemovalRequest.objects.count() == 1 and len(mailoutbox) == 3


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        (
            {},
            ["Enter your name.", "Enter your e-mail address.", "Choose at least one place whose law applies"],
        ),
        ({**FORM, "email": "zoe at example"}, ["Enter a valid e-mail address, like name@example.com."]),
        ({**FORM, "jurisdictions": ["EU", "ATLANTIS"]}, ["ATLANTIS is not a place we know."]),
        ({**FORM, "right": "everything"}, ["Choose one of the options."]),
    ],
)
def test_bad_form_is_rejected_with_clear_messages_and_nothing_stored(
    client: Any, mailoutbox: list[Any], data: dict[str, Any], messages: list[str]
) -> None:
    response = client.post(reverse("removal:request_form"), data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'role="alert"' in html and "Please correct the following" in html and 'aria-invalid="true"' in html
    for message in messages:
        assert message in html
    assert RemovalRequest.objects.count() == 0 and AuditEvent.objects.count() == 0 and not mailoutbox


def test_status_page_shows_status_deadlines_and_only_a_masked_email(
    client: Any, make_request: Any, mail_links: Any
) -> None:
    result = make_request(jurisdictions=["US-CA"])
    url = mail_links("status")[0].removeprefix("http://testserver")
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert result.request.reference in html and "Received" in html
    assert "z•••o@e•••.org" in html and SUBJECT_EMAIL not in html and "Quintero" not in html
    # Our own acknowledgement deadline is not the subject's business: the response deadlines are.
    assert "Acknowledgement due" not in html and "Response due" in html
    assert "(PST)" in html or "(PDT)" in html, "US-CA deadlines are shown in California time"
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


def test_status_page_with_a_bad_token_says_the_link_does_not_work(client: Any, make_request: Any) -> None:
    make_request()
    response = client.get(reverse("removal:status") + "?t=not-the-token")
    assert response.status_code == 404 and "This link does not work" in response.content.decode()


def test_subject_can_withdraw_from_the_status_page(client: Any, make_request: Any, mail_links: Any) -> None:
    request = make_request().request
    token = mail_links("status")[0].split("t=")[1]
    asked = client.post(reverse("removal:status"), {"t": token, "action": "withdraw"})
    request.refresh_from_db()
    assert request.status != Status.WITHDRAWN  # one click only asks
    assert "Yes, withdraw my request" in asked.content.decode()
    response = client.post(
        reverse("removal:status"), {"t": token, "action": "withdraw", "confirm": "yes"}, follow=True
    )
    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN
    html = response.content.decode()
    assert "Your request is withdrawn." in html and "Withdraw my request" not in html


def test_confirmation_link_shows_a_button_and_confirms_on_post(
    client: Any, make_request: Any, mail_links: Any
) -> None:
    request = make_request().request
    url = mail_links("confirm")[0].removeprefix("http://testserver")
    page = client.get(url)
    assert "Confirm my e-mail address" in page.content.decode()
    request.refresh_from_db()
    assert request.email_confirmed_at is None  # opening the link (a mail scanner) confirms nothing
    query = parse_qs(urlsplit(url).query)
    done = client.post(reverse("removal:confirm_email"), {"t": query["t"][0]})
    assert "E-mail address confirmed" in done.content.decode()
    request.refresh_from_db()
    assert request.email_confirmed_at is not None


def test_the_confirmed_page_leads_on_to_the_request(client: Any, make_request: Any, mail_links: Any) -> None:
    make_request()
    url = mail_links("confirm")[0].removeprefix("http://testserver")
    form = client.get(url).content.decode()
    query = parse_qs(urlsplit(url).query)
    assert f'name="s" value="{query["s"][0]}"' in form  # the button's form carries it on
    done = client.post(reverse("removal:confirm_email"), {"t": query["t"][0], "s": query["s"][0]})
    html = done.content.decode()
    assert "Open my request" in html
    next_url = html.split('class="button" href="')[1].split('"')[0].replace("&amp;", "&")
    assert next_url == f"{reverse('removal:status')}?t={query['s'][0]}"
    assert client.get(next_url).status_code == 200


def test_the_confirmed_page_links_only_to_its_own_request(
    client: Any, make_request: Any, mail_links: Any, mailoutbox: list[Any]
) -> None:
    make_request(email="first@example.org")
    make_request(email="second@example.org")
    first_confirm, second_confirm = (parse_qs(urlsplit(u).query) for u in mail_links("confirm"))
    done = client.post(
        reverse("removal:confirm_email"), {"t": first_confirm["t"][0], "s": second_confirm["s"][0]}
    )
    html = done.content.decode()
    assert "E-mail address confirmed" in html and "Open my request" not in html


def test_forged_confirmation_is_refused(client: Any, make_request: Any) -> None:
    make_request()
    response = client.post(reverse("removal:confirm_email"), {"t": "abc:def"})
    assert response.status_code == 400 and "This link does not work" in response.content.decode()
    assert not RemovalRequest.objects.filter(email_confirmed_at__isnull=False).exists()


def test_pages_are_served_in_french_and_german(client: Any) -> None:
    html = client.get(reverse("removal:request_form"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de">' in html


def test_healthz(client: Any) -> None:
    assert client.get("/healthz", HTTP_HOST="10.0.0.5").json() == {"status": "ok"}


def test_status_page_says_what_we_need_while_waiting_for_the_subject(
    client: Any, make_request: Any, reviewer: Any
) -> None:
    from removal import services

    result = make_request()
    services.removal_request_ask_subject(
        request=result.request, actor=services.Actor.staff(reviewer), ask="clearer_photo"
    )
    html = client.get(reverse("removal:status") + f"?t={result.status_token}").content.decode()
    assert "Waiting for you" in html and "A clearer photo of your face" in html


def test_a_person_can_switch_the_language_without_javascript(client: Any) -> None:
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/"}, follow=True)
    html = response.content.decode()
    assert '<html lang="de">' in html and "Sprache" in html


def test_the_form_is_rate_limited_per_address(client: Any, settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.INTAKE_FORM_RATE_PER_IP = "2/h"
    codes = [client.post(reverse("removal:request_form"), {}).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    assert (
        "Too many requests from this address"
        in client.post(reverse("removal:request_form"), {}).content.decode()
    )
    assert RemovalRequest.objects.count() == 0
    cache.clear()


def test_the_status_page_never_says_we_will_be_in_touch_above_a_request_for_photos(
    client: Any, make_request: Any, mail_links: Any
) -> None:
    request = make_request(right="erasure").request
    status = mail_links("status")[0].removeprefix("http://testserver")
    before = client.get(status).content.decode()
    assert "Send my photos" in before and "send us a photo of your face (below)" in before
    services.removal_request_confirm_email(
        signed_token=parse_qs(urlsplit(mail_links("confirm")[0]).query)["t"][0]
    )
    request.refresh_from_db()
    assert request.email_confirmed_at is not None
    after = client.get(status).content.decode()
    assert "Send my photos" in after
    assert "Next, send us a photo of your face (below)." in after and "in touch soon" not in after


def test_only_the_irreversible_withdrawal_looks_dangerous(
    client: Any, make_request: Any, mail_links: Any
) -> None:
    make_request()
    html = client.get(mail_links("status")[0].removeprefix("http://testserver")).content.decode()
    assert '<button type="submit" class="danger">Withdraw my request</button>' in html
    assert '<button type="submit" class="secondary">Keep a template of my face</button>' in html


_MONTHS = {
    "en": "January|February|March|April|May|June|July|August|September|October|November|December",
    "de": "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember",
    "fr": "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre",
}


@pytest.mark.parametrize(
    ("language", "pattern"),
    [
        ("en", rf"\b\d{{1,2}} ({_MONTHS['en']}) \d{{4}}"),
        ("de", rf"\b\d{{1,2}}\. ({_MONTHS['de']}) \d{{4}}"),
        ("fr", rf"\b\d{{1,2}} ({_MONTHS['fr']}) \d{{4}}"),
    ],
)
def test_the_status_page_writes_every_date_one_way_per_language(
    client: Any, make_request: Any, mail_links: Any, language: str, pattern: str
) -> None:
    make_request(jurisdictions=["US-CA", "EU"])
    html = client.get(
        mail_links("status")[0].removeprefix("http://testserver"), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    dates = re.findall(r"<dd>[^<]*\d{4}[^<]*</dd>|<td>[^<]*\d{4}[^<]*</td>", html)
    assert dates, "the page shows dates"
    for shown in dates:
        assert re.search(pattern, shown), f"{shown!r} is not written the {language} way"
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.", html)
