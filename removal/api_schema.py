"""The answers every API operation can give besides its own, written into the OpenAPI schema.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): the schema then
lists what a client really receives, which schemathesis checks (tests/removal/test_api_fuzzing.py).
"""

from __future__ import annotations

from typing import Any

from config.problems import MEDIA_TYPE

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details (docs/api.md, Errors).",
    "properties": {
        "type": {"type": "string", "description": "`about:blank`: the status says what kind of problem"},
        "title": {"type": "string", "description": "The status's phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "errors": {
            "type": "object",
            "description": "Per field (nested fields joined with dots), its messages",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
    "example": {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "Some fields are not valid: see errors.",
        "errors": {"email": ["Enter a valid email address."]},
    },
}
_ANSWERS = {
    "400": "The request is malformed: `detail` says why, `errors` names the fields.",
    "403": "Not signed in as staff with a second factor, or the role does not allow this.",
    "404": "No such request, or an unknown or outdated status token.",
    "429": "Too many requests from this address; `Retry-After` says when to try again.",
    "503": "The database was too busy to answer in time; nothing was saved. Try again (`Retry-After`).",
}
_PROBLEM_CONTENT = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _answer(code: str) -> dict[str, Any]:
    return {"description": _ANSWERS[code], "content": _PROBLEM_CONTENT}


def document_common_answers(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = {"503"}
            if any("cookieAuth" in requirement for requirement in operation.get("security", [])):
                codes |= {"403"}
            if "{id}" in path:
                codes |= {"404"}
            if any(p.get("in") == "query" and p["name"] != "page" for p in operation.get("parameters", [])):
                codes |= {"400"}  # a filter value the list does not know
            headers = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}
            if "X-Status-Token" in headers:
                codes |= {"400", "404"}
            if method == "post" and path.endswith("/requests/"):
                codes |= {"429"}
            for code in sorted(codes):
                responses.setdefault(code, _answer(code))
            # Every error an operation declares is problem details, whatever its view declared.
            for code, response in responses.items():
                if int(code) >= 400:
                    response["content"] = _PROBLEM_CONTENT
    return result
