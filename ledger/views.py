"""The log's public HTTP API, shaped as RFC 6962 §4 (under /ledger/v1/), and its checkpoints.

Everything here is public and holds no personal data: leaves carry pseudonymous actors and ids.
Answers that can never change (a proof between two fixed sizes, a checkpoint of one size) are cached
for a year; the latest tree head for LEDGER_STH_MAX_AGE_SECONDS. Errors are JSON with a `detail`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET
from django_ratelimit.decorators import ratelimit

from config.problems import MEDIA_TYPE, problem_body
from ledger import regulators, selectors
from ledger.exports import ExportError, export_period
from vault.signing import KeyConfigurationError, configured_public_keys, public_keys_to_json

_IMMUTABLE = "public, max-age=31536000, immutable"


class BadParameter(ValueError):
    pass


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _error(status: int, detail: str) -> JsonResponse:
    response = JsonResponse(problem_body(status, detail), status=status, content_type=MEDIA_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def _ledger_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @require_GET
    @ratelimit(
        key="ip", group="ledger-api", rate=lambda group, request: str(settings.LEDGER_API_RATE), block=False
    )
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "limited", False):
            response: HttpResponse = _error(429, "too many requests; slow down and try again in a minute")
            response["Retry-After"] = "60"
        else:
            try:
                response = view(request, *args, **kwargs)
            except BadParameter as exc:
                response = _error(400, str(exc))
            except selectors.NotInLog as exc:
                response = _error(404, str(exc))
        # Public data: a verifier in someone else's web page may read it.
        response["Access-Control-Allow-Origin"] = "*"
        response.setdefault("Cache-Control", "no-store")
        return response

    return wrapper


def _integer(request: HttpRequest, name: str) -> int:
    raw = request.GET.get(name)
    if raw is None:
        raise BadParameter(f"the parameter {name!r} is required")
    if not raw.isdigit() or len(raw) > 19:
        raise BadParameter(f"the parameter {name!r} must be a non-negative integer")
    return int(raw)


@_ledger_api
def get_sth(request: HttpRequest) -> HttpResponse:
    latest = selectors.checkpoint_latest()
    if latest is None:
        raise selectors.NotInLog("the log has no signed tree head yet")
    response = JsonResponse(
        {
            "tree_size": latest.tree_size,
            "timestamp": latest.timestamp_ms,
            "sha256_root_hash": _b64(bytes(latest.root_hash)),
            "tree_head_signature": latest.tree_head_signature,
            "key_id": latest.key_id,
        }
    )
    response["Cache-Control"] = f"public, max-age={settings.LEDGER_STH_MAX_AGE_SECONDS}"
    return response


@_ledger_api
def get_sth_consistency(request: HttpRequest) -> HttpResponse:
    first, second = _integer(request, "first"), _integer(request, "second")
    if first > second:
        raise BadParameter("'first' must not be greater than 'second'")
    proof = selectors.consistency(first, second)
    response = JsonResponse({"consistency": [_b64(h) for h in proof]})
    response["Cache-Control"] = _IMMUTABLE
    return response


@_ledger_api
def get_proof_by_hash(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("hash", "")
    try:
        leaf = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        leaf = b""
    if len(leaf) != 32:
        raise BadParameter("'hash' must be the base64 SHA-256 leaf hash (32 bytes)")
    proof = selectors.inclusion_by_hash(leaf, _integer(request, "tree_size"))
    response = JsonResponse({"leaf_index": proof.leaf_index, "audit_path": [_b64(h) for h in proof.path]})
    response["Cache-Control"] = _IMMUTABLE
    return response


@_ledger_api
def get_entries(request: HttpRequest) -> HttpResponse:
    start, end = _integer(request, "start"), _integer(request, "end")
    if start > end:
        raise BadParameter("'start' must not be greater than 'end'")
    size = selectors.current_size()
    if start >= size:
        raise selectors.NotInLog(f"entry {start} is not in the signed log (size {size})")
    # RFC 6962 lets a log return fewer entries than asked; clients continue from the last one.
    end = min(end, size - 1, start + settings.LEDGER_MAX_ENTRIES_PER_CALL - 1)
    rows = selectors.entries(start, end)
    response = JsonResponse(
        {"entries": [{"leaf_input": _b64(row.payload.encode()), "extra_data": ""} for row in rows]}
    )
    if len(rows) == end - start + 1:
        response["Cache-Control"] = _IMMUTABLE
    return response


def _note(text: str, cache_control: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = cache_control
    return response


@_ledger_api
def checkpoint(request: HttpRequest) -> HttpResponse:
    """The latest signed checkpoint, as C2SP signed-note text: save it to check the log later."""
    latest = selectors.checkpoint_latest()
    if latest is None:
        raise selectors.NotInLog("the log has no signed checkpoint yet")
    return _note(latest.note, f"public, max-age={settings.LEDGER_STH_MAX_AGE_SECONDS}")


@_ledger_api
def checkpoint_of_size(request: HttpRequest, size: int) -> HttpResponse:
    return _note(selectors.checkpoint_for_size(size).note, _IMMUTABLE)


@_ledger_api
def public_keys(request: HttpRequest) -> HttpResponse:
    """{key id: base64 Ed25519 public key}: the keys checkpoints (and receipts) are signed with."""
    try:
        keys = configured_public_keys()
    except KeyConfigurationError:
        return _error(503, "no signing key is configured")
    response = JsonResponse(public_keys_to_json(keys))
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
@ratelimit(
    key="ip", group="ledger-regulator", rate=lambda group, request: str(settings.LEDGER_API_RATE), block=False
)
def regulator_export(request: HttpRequest) -> HttpResponseBase:
    """A regulator's request-log bundle as a zip: `Authorization: Bearer <token>`, ?since=&until=
    (YYYY-MM-DD, both included) and optional &jurisdiction= (repeatable; default all granted)."""
    if getattr(request, "limited", False):
        return _error(429, "too many requests; slow down and try again in a minute")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        response = _error(401, "send the regulator token as 'Authorization: Bearer <token>'")
        response["WWW-Authenticate"] = 'Bearer realm="request-log"'
        return response
    try:
        record = regulators.regulator_token_check(token.strip(), scope="export")
    except regulators.AccessRefused as exc:
        return _error(403, str(exc))
    try:
        since, until = export_period(request.GET.get("since", ""), request.GET.get("until", ""))
        archive, _result = regulators.regulator_export(
            regulator=record.regulator,
            token=record,
            since=since,
            until=until,
            jurisdictions=request.GET.getlist("jurisdiction"),
        )
    except ExportError as exc:
        return _error(400, str(exc))
    except regulators.AccessRefused as exc:
        return _error(403, str(exc))
    handle = archive.open("rb")
    archive.unlink()  # the open handle keeps the data until the response is sent
    last_day = (until - timedelta(days=1)).date()
    download = FileResponse(handle, as_attachment=True, filename=f"request-log-{since.date()}-{last_day}.zip")
    download["Cache-Control"] = "no-store"
    return download
