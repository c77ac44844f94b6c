"""Every error an API client receives, in one shape: RFC 9457 problem details.

    HTTP/1.1 400 Bad Request
    Content-Type: application/problem+json

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "Some fields are not valid: see errors.",
     "errors": {"email": ["Enter a valid e-mail address."], "jurisdictions.0": ["..."]}}

`type` is `about:blank` (the status says what kind of problem it is), `title` the status's phrase,
`detail` a sentence for a person. Field errors, when there are any, are in the extension member
`errors`: each field's path (nested fields joined with dots) and its messages. DRF's own errors go
through `exception_handler` (REST_FRAMEWORK["EXCEPTION_HANDLER"]); views answer with `problem()`;
the JSON 404 and the busy 503 use `problem_body()`. docs/api.md, "Errors", documents it for clients.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

MEDIA_TYPE = "application/problem+json"
_INVALID = "Some fields are not valid: see errors."


def problem_body(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None) -> Response:
    """A view's error answer."""
    return Response(problem_body(status, detail), status=status, headers=headers, content_type=MEDIA_TYPE)


def invalid(errors: Any) -> Response:
    """400 for a service's field errors ({"email": ["..."]}), as DRF's own validation errors are."""
    body = problem_body(400, _INVALID, field_errors(errors))
    return Response(body, status=400, content_type=MEDIA_TYPE)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, headers such as Retry-After), its body rewritten as problem details."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        body = problem_body(response.status_code, str(data["detail"]))
    else:
        body = problem_body(response.status_code, _INVALID, field_errors(data))
    response.data = body
    response.content_type = MEDIA_TYPE
    return response


def field_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as one level: {"jurisdictions": {"0": [m]}} becomes {"jurisdictions.0": [m]}."""
    if isinstance(data, dict):
        flat: dict[str, list[str]] = {}
        for key, value in data.items():
            flat.update(field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(data, list) and data and all(not isinstance(item, dict | list) for item in data):
        return {prefix or "non_field_errors": [str(item) for item in data]}
    if isinstance(data, list):
        flat = {}
        for index, item in enumerate(data):
            flat.update(field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(data)]}
