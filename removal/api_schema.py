"""The answers every API operation can give besides its own, written into the OpenAPI schema.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): the schema then
lists what a client really receives, which schemathesis checks (tests/removal/test_api_fuzzing.py).
"""

from __future__ import annotations

from typing import Any

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_ANSWERS = {
    "400": "The request is malformed: the reason is in `detail` (or per field).",
    "403": "Not signed in as staff with a second factor, or the role does not allow this.",
    "404": "No such request, or an unknown or outdated status token.",
    "429": "Too many requests from this address; `Retry-After` says when to try again.",
    "503": "The database was too busy to answer in time; nothing was saved. Try again (`Retry-After`).",
}


def _answer(code: str) -> dict[str, Any]:
    # The busy answer is problem details (config/busy.py); the others DRF's {"detail": ...}.
    media = "application/problem+json" if code == "503" else "application/json"
    # A 400 names the reason in `detail` or per field ({"status": ["..."]}).
    schema = {"type": "object"} if code == "400" else {"$ref": "#/components/schemas/Detail"}
    return {"description": _ANSWERS[code], "content": {media: {"schema": schema}}}


def document_common_answers(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Detail"] = _DETAIL
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
    return result
