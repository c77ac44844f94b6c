from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from ledger.models import AuditEvent
from removal import services
from removal.models import Candidate, RemovalRequest, Status
from removal.services.discovery import removal_request_discover
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME, error_fields, sign_in

pytestmark = pytest.mark.django_db

BODY = {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["GB"]}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_api(reviewer: Any) -> APIClient:
    client = APIClient()
    sign_in(client, reviewer)  # a session with the second factor, as the staff sign-in leaves one
    return client


def _intake(api: APIClient, body: dict[str, Any], capture: Any) -> Any:
    with capture(execute=True):
        return api.post(reverse("removal:api_intake"), body, format="json")


def test_api_intake_accepts_and_answers_alike_for_a_duplicate(
    api: APIClient, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    first = _intake(api, BODY, django_capture_on_commit_callbacks)
    second = _intake(api, BODY, django_capture_on_commit_callbacks)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert SUBJECT_EMAIL not in first.content.decode()
    request = RemovalRequest.objects.get()
    assert request.channel == "api" and len(mailoutbox) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "email": "nope"}, "email"),
        ({**BODY, "jurisdictions": []}, "jurisdictions"),
        ({**BODY, "jurisdictions": ["MARS"]}, "jurisdictions"),
        ({k: v for k, v in BODY.items() if k != "name"}, "name"),
        ({**BODY, "right": "delete_everyone"}, "right"),
    ],
)
def test_api_intake_rejects_bad_input_and_stores_nothing(
    api: APIClient, body: dict[str, Any], field: str, django_capture_on_commit_callbacks: Any
) -> None:
    response = _intake(api, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and field in error_fields(response)
    assert RemovalRequest.objects.count() == 0 and AuditEvent.objects.count() == 0


def test_subject_status_api_needs_the_token_and_shows_no_personal_data(
    api: APIClient, make_request: Any
) -> None:
    result = make_request(jurisdictions=["EU", "BR"])
    assert api.get(reverse("removal:api_status")).status_code == 400  # no token sent: a bad request
    response = api.get(reverse("removal:api_status"), HTTP_X_STATUS_TOKEN=result.status_token)
    data = response.json()
    assert response.status_code == 200
    assert data["reference"] == result.request.reference and data["status"] == "received"
    assert data["email_masked"] == "z•••o@e•••.org" and data["jurisdictions"] == ["BR", "EU"]
    assert [d["set_by"] for d in data["deadlines"]] == ["BR"]
    assert "Quintero" not in response.content.decode() and SUBJECT_EMAIL not in response.content.decode()


def test_subject_can_withdraw_through_the_api_once(api: APIClient, make_request: Any) -> None:
    result = make_request()
    url = reverse("removal:api_withdraw")
    assert api.post(url, HTTP_X_STATUS_TOKEN=result.status_token).json()["status"] == "withdrawn"
    assert api.post(url, HTTP_X_STATUS_TOKEN=result.status_token).status_code == 409


def test_staff_api_is_closed_to_the_public_and_to_non_staff(
    api: APIClient, outsider: Any, removal_request: Any
) -> None:
    url = reverse("removal:api_staff_requests")
    assert api.get(url).status_code == 403
    api.force_authenticate(outsider)
    assert api.get(url).status_code == 403
    assert (
        api.post(
            reverse("removal:api_staff_transition", args=[removal_request.id]), {"move": "withdraw"}
        ).status_code
        == 403
    )


def test_staff_api_lists_and_filters_requests(staff_api: APIClient, make_request: Any) -> None:
    make_request()
    make_request(email="other@example.org", jurisdictions=["US-CA"], right="opt_out")
    url = reverse("removal:api_staff_requests")
    assert len(staff_api.get(url).json()) == 2
    [only] = staff_api.get(url, {"jurisdiction": "US-CA"}).json()
    assert only["right"] == "opt_out" and only["allowed_moves"] == [
        "ask_subject",
        "start_verification",
        "waive_verification",
        "deny",
        "withdraw",
    ]
    assert staff_api.get(url, {"status": "denied"}).json() == []
    assert "email" not in only and "name" not in only


def test_staff_api_moves_a_request_and_refuses_illegal_moves(
    staff_api: APIClient, removal_request: Any
) -> None:
    url = reverse("removal:api_staff_transition", args=[removal_request.id])
    assert staff_api.post(url, {"move": "start_verification"}, format="json").json()["status"] == "verifying"
    conflict = staff_api.post(url, {"move": "approve_purge"}, format="json")
    assert conflict.status_code == 409 and "cannot approve purge" in conflict.json()["detail"]
    bad = staff_api.post(url, {"move": "deny"}, format="json")
    assert bad.status_code == 400 and "basis" in error_fields(bad)
    denied = staff_api.post(url, {"move": "deny", "basis": "identity_not_verified"}, format="json")
    assert (
        denied.json()["status"] == Status.DENIED and denied.json()["denial_basis"] == "identity_not_verified"
    )


def test_openapi_schema_and_docs_are_served(client: Any) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/requests/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn." not in docs.content


def test_staff_api_extends_once_and_records_identity(
    staff_api: APIClient, make_request: Any, reviewer: Any
) -> None:
    from removal import services

    request = make_request(jurisdictions=["GB"]).request
    extension = reverse("removal:api_staff_extension", args=[request.id])
    assert staff_api.post(extension, {"reason": "because"}, format="json").status_code == 400
    data = staff_api.post(extension, {"reason": "complexity"}, format="json").json()
    assert data["extended_at"] and data["response_due"] == data["respond_by_extended"]
    again = staff_api.post(extension, {"reason": "complexity"}, format="json")
    assert again.status_code == 409 and "already extended once" in again.json()["detail"]

    identity = reverse("removal:api_staff_identity_received", args=[request.id])
    assert staff_api.post(identity, {}, format="json").status_code == 400  # we never asked
    services.removal_request_ask_subject(
        request=request, actor=services.Actor.staff(reviewer), ask="identity"
    )
    assert staff_api.post(identity, {}, format="json").json()["identity_received_at"]


# --- Discovery's candidates and the purge jobs, for staff --------------------------------------------


def test_staff_list_and_decide_candidates_then_approve_and_follow_the_jobs(
    client: Any, reviewer: Any, gallery: Any, verified_request: RemovalRequest
) -> None:
    removal_request_discover(request_id=verified_request.id)
    sign_in(client, reviewer)
    url = reverse("removal:api_staff_candidates", args=[verified_request.id])

    listed = client.get(url).json()
    assert len(listed) == 5 and all(c["decision"] == "pending" for c in listed)
    assert [c["distance"] for c in listed] == sorted(c["distance"] for c in listed)
    assert {"photo", "face", "lookalike"} <= set(listed[0])

    refused = client.post(
        reverse("removal:api_staff_transition", args=[verified_request.id]),
        {"move": "approve_purge"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "not decided" in str(refused.json())

    decided = client.post(
        url, {"decisions": {str(c["id"]): "confirmed" for c in listed}}, content_type="application/json"
    )
    assert decided.status_code == 200 and {c["decision"] for c in decided.json()} == {"confirmed"}
    approved = client.post(
        reverse("removal:api_staff_transition", args=[verified_request.id]),
        {"move": "approve_purge"},
        content_type="application/json",
    )
    assert approved.status_code == 200 and approved.json()["status"] == "purging"

    jobs = client.get(reverse("removal:api_staff_purge_jobs", args=[verified_request.id])).json()
    assert {job["target"]: job["planned"] for job in jobs if job["phase"] == "purge"} == {
        "photo_files": 5,
        "thumbnail_files": 5,
        "face_records": 5,
        "downstream_recipients": 0,
        "headshot": 1,
    }
    assert "plan" not in jobs[0]


@pytest.mark.parametrize(
    "body", [{"decisions": {"1": "maybe"}}, {"decisions": {"x": "confirmed"}}, {"decisions": "all"}]
)
def test_bad_candidate_decisions_are_refused_and_change_nothing(
    client: Any, reviewer: Any, gallery: Any, verified_request: RemovalRequest, body: dict[str, Any]
) -> None:
    removal_request_discover(request_id=verified_request.id)
    sign_in(client, reviewer)
    response = client.post(
        reverse("removal:api_staff_candidates", args=[verified_request.id]),
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Candidate.objects.exclude(decision="pending").exists()


def test_outsiders_cannot_see_candidates(
    client: Any, outsider: Any, verified_request: RemovalRequest
) -> None:
    sign_in(client, outsider)
    assert client.get(reverse("removal:api_staff_candidates", args=[verified_request.id])).status_code == 403


def test_a_missing_status_token_is_a_bad_request_not_an_unknown_one(api: APIClient) -> None:
    for response in (api.get("/api/v1/status/"), api.post("/api/v1/status/withdraw/")):
        assert response.status_code == 400
        assert "X-Status-Token" in response.json()["detail"]
    assert api.get("/api/v1/status/", HTTP_X_STATUS_TOKEN="no-such-token").status_code == 404


def test_the_schema_says_what_the_api_refuses_and_answers() -> None:
    """What schemathesis found the schema silent about: blank names and empty jurisdictions (refused),
    a null assignee (answered), and the 403, 404, 429 and 503 answers."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    intake = schema["components"]["schemas"]["Intake"]["properties"]
    assert intake["name"]["minLength"] == 1 and intake["name"]["pattern"] == r"\S"
    assert intake["jurisdictions"]["minItems"] == 1
    assert schema["components"]["schemas"]["StaffRequest"]["properties"]["assignee"]["nullable"] is True
    paths = schema["paths"]
    assert {"400", "429", "503"} <= set(paths["/api/v1/requests/"]["post"]["responses"])
    assert {"400", "404"} <= set(paths["/api/v1/status/"]["get"]["responses"])
    assert {"403", "404"} <= set(paths["/api/v1/staff/requests/{id}/"]["get"]["responses"])
    assert "403" in paths["/api/v1/staff/requests/"]["get"]["responses"]


def test_a_name_of_spaces_is_refused_as_the_schema_says(api: APIClient) -> None:
    response = api.post(reverse("removal:api_intake"), {**BODY, "name": "   "}, format="json")
    assert response.status_code == 400 and "name" in error_fields(response)


def test_the_subject_api_lists_the_deadlines_the_status_page_shows_not_ours(
    api: APIClient, make_request: Any
) -> None:
    """California's 10-day acknowledgement is ours to meet (the e-mail they read is it): the subject's
    API, like their page, lists only the answer's deadline."""
    result = make_request(jurisdictions=["US-CA"])
    data = api.get(reverse("removal:api_status"), HTTP_X_STATUS_TOKEN=result.status_token).json()
    kinds = [d["kind"] for d in data["deadlines"]]
    assert "respond_by" in kinds and "acknowledge_by" not in kinds
    assert result.request.acknowledge_by is not None  # staff still see and meet it


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status and response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"] and body["detail"]
    return body


def test_every_kind_of_error_is_problem_details(api: APIClient, make_request: Any) -> None:
    """One shape for every error (docs/api.md, Errors): 400 with its fields, 403, 404 from a view and
    from an unknown address, 405, 409, 415 and 429, each with a sentence in `detail`."""
    bad = _problem(
        api.post(reverse("removal:api_intake"), {**BODY, "jurisdictions": ["MARS"]}, format="json"), 400
    )
    assert set(bad["errors"]) == {"jurisdictions.0"} and bad["errors"]["jurisdictions.0"]
    assert "errors" not in _problem(api.get(reverse("removal:api_staff_requests")), 403)
    assert _problem(api.get(reverse("removal:api_status"), HTTP_X_STATUS_TOKEN="wrong"), 404)["detail"] == (
        "Unknown or outdated status token."
    )
    _problem(api.get("/api/v1/no-such-thing/"), 404)
    _problem(api.get(reverse("removal:api_intake")), 405)
    _problem(
        api.post(reverse("removal:api_intake"), "name=x", content_type="application/x-www-form-urlencoded"),
        415,
    )
    result = make_request()
    services.removal_request_withdraw(request=result.request, actor=services.SUBJECT)
    _problem(api.post(reverse("removal:api_withdraw"), HTTP_X_STATUS_TOKEN=result.status_token), 409)


def test_every_operation_has_a_summary_and_every_json_body_an_example() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 12
    assert [f"{m} {p}" for m, p, op in operations if not op.get("summary")] == []
    bodies = {
        f"{method} {path}": op["requestBody"]["content"]["application/json"]
        for method, path, op in operations
        if "application/json" in op.get("requestBody", {}).get("content", {})
    }
    assert bodies and [name for name, body in bodies.items() if not body.get("examples")] == []
    # The error answers share one example: problem details.
    assert schema["components"]["schemas"]["Problem"]["example"]["type"] == "about:blank"
