"""Upload handling that keeps the ID photo and headshot in memory only, with hard caps.

Why not Django's defaults: `TemporaryFileUploadHandler` spools every file over
FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) to a temporary file, and `MemoryFileUploadHandler` silently
hands big files on to the next handler (that temporary-file one) instead of refusing them. An ID
photo must never reach a disk, even for the length of a request, so the only handler installed on the
identity views is `MemoryOnlyUploadHandler`, which refuses instead of falling through.

How refusal surfaces: the handler raises `UploadTooLarge`, a subclass of Django's
`RequestDataTooBig`. That choice gives a clear 4xx on every path:
- inside `memory_only_uploads` (the normal case) the exception is turned into a 413 response whose
  body says what the limit is and what to do;
- anywhere else (a view that installs the handler itself and forgets to catch it, or CSRF middleware
  reading POST first) Django treats it as a SuspiciousOperation: a 400, logged under
  `django.security.UploadTooLarge`, with POST marked unreadable so nothing re-parses a half-read body.
`StopUpload` was rejected: Django swallows it and returns a silently truncated FILES, which a view
would have to remember to check.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps
from typing import Any, Final

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from config.problems import MEDIA_TYPE, problem_body
from identity.images import DEFAULT_MAX_BYTES

DEFAULT_MAX_FILE_BYTES: Final = DEFAULT_MAX_BYTES
# A headshot and a document photo at the per-file limit, plus room for a back side.
DEFAULT_MAX_TOTAL_BYTES: Final = 32 * 1024 * 1024
DEFAULT_MAX_FILES: Final = 3
# Multipart boundaries, part headers and the small form fields travel in the same body as the files;
# this is what the early Content-Length check allows on top of the file bytes.
BODY_OVERHEAD_BYTES: Final = 256 * 1024

View = Callable[..., HttpResponse]
RejectResponder = Callable[[HttpRequest, "UploadTooLarge"], HttpResponse]


class UploadTooLarge(RequestDataTooBig):
    """An upload broke a cap. `code` is one of `file_too_large`, `upload_too_large`, `too_many_files`.

    Every message names a limit, so it is translated (`gettext`) and then formatted when it is raised:
    the handler runs while the view parses the body, with the subject's language already active.
    """

    status_code = 413

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MemoryOnlyUploadHandler(FileUploadHandler):
    """Collects each uploaded file in a BytesIO and refuses (never spools) anything over the caps.

    It claims every file (`StopFutureHandlers`) and consumes every chunk, so no handler after it
    ever sees the data even if someone appends one to `request.upload_handlers`.
    """

    def __init__(
        self,
        request: HttpRequest | None = None,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> None:
        super().__init__(request)
        if max_file_bytes <= 0 or max_total_bytes <= 0 or max_files <= 0:
            raise ValueError("upload limits must be positive")
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.max_files = max_files
        self._buffer: io.BytesIO | None = None
        self._total = 0
        self._files_seen = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        # Refuse before reading a byte when the client announces a body we would refuse anyway.
        # Bodies without a length (chunked) are still caught chunk by chunk below.
        if content_length and content_length > self.max_total_bytes + BODY_OVERHEAD_BYTES:
            raise self._total_error()
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._files_seen += 1
        if self._files_seen > self.max_files:
            raise UploadTooLarge(
                "too_many_files",
                gettext("Too many files: send at most %(max_files)s photos in one go.")
                % {"max_files": self.max_files},
            )
        self._buffer = io.BytesIO()
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self._buffer is not None, "new_file() always runs first"
        if start + len(raw_data) > self.max_file_bytes:
            self._drop()
            raise UploadTooLarge(
                "file_too_large",
                gettext(
                    "A photo is larger than %(limit)s, the limit. Send a smaller photo "
                    "(choose a smaller size when sharing it, or take a screenshot of it)."
                )
                % {"limit": _mb(self.max_file_bytes)},
            )
        self._total += len(raw_data)
        if self._total > self.max_total_bytes:
            self._drop()
            raise self._total_error()
        self._buffer.write(raw_data)
        return None  # consumed: later handlers get nothing

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        assert self._buffer is not None
        buffer, self._buffer = self._buffer, None
        buffer.seek(0)
        return InMemoryUploadedFile(
            file=buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )

    def upload_interrupted(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None

    def _total_error(self) -> UploadTooLarge:
        return UploadTooLarge(
            "upload_too_large",
            gettext(
                "The photos add up to more than %(limit)s, the limit. "
                "Send smaller photos (choose a smaller size when sharing them)."
            )
            % {"limit": _mb(self.max_total_bytes)},
        )


def install_memory_only_handlers(
    request: HttpRequest,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> None:
    """Make `MemoryOnlyUploadHandler` the request's only upload handler.

    Must run before anything reads `request.POST` or `request.FILES` (Django raises AttributeError
    otherwise, which is what we want: a late install would mean the body was already parsed with the
    spooling defaults). For DRF views call it from `initialize_request`/`initial` before parsing.
    """
    request.upload_handlers = [
        MemoryOnlyUploadHandler(
            request, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes, max_files=max_files
        )
    ]


def upload_rejected_response(request: HttpRequest, exc: UploadTooLarge) -> HttpResponse:
    """A 413 that says what the limit is; problem details for API clients, plain text otherwise."""
    api_client = request.accepts("application/json") and not request.accepts("text/html")
    if request.path.startswith("/api/") or api_client:
        body = {**problem_body(exc.status_code, exc.message), "code": exc.code}
        return JsonResponse(body, status=exc.status_code, content_type=MEDIA_TYPE)
    return HttpResponse(exc.message, status=exc.status_code, content_type="text/plain; charset=utf-8")


def memory_only_uploads(
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    on_reject: RejectResponder | None = None,
) -> Callable[[View], View]:
    """Decorate a function view so its uploads stay in memory and oversized ones get a 413.

    CSRF ordering (Django docs, "Modifying upload handlers on the fly"): CsrfViewMiddleware reads
    `request.POST` before the view runs, which would parse the body with the default, spooling
    handlers. So the returned view is `csrf_exempt` for the middleware, installs our handler, and
    only then runs the CSRF check itself via `csrf_protect` around the original view. A view that was
    already `csrf_exempt` (an API authenticated otherwise) stays exempt rather than gaining a check.
    """
    respond = on_reject or upload_rejected_response

    def decorator(view: View) -> View:
        checked = view if getattr(view, "csrf_exempt", False) else csrf_protect(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            install_memory_only_handlers(
                request, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes, max_files=max_files
            )
            try:
                return checked(request, *args, **kwargs)
            except UploadTooLarge as exc:
                # The body is half read: make any later access to POST/FILES (a template, a logger)
                # see an empty form instead of re-parsing, as Django does for its own RequestDataTooBig.
                request._mark_post_parse_error()  # type: ignore[attr-defined]
                return respond(request, exc)

        return csrf_exempt(wrapper)

    return decorator


def _mb(size: int) -> str:
    """Whole megabytes without decimals, others with one, in the active language ("1 MB", "1,5 Mo")."""
    whole = size % (1024 * 1024) == 0
    # Rounded first: number_format cuts the extra decimals off instead of rounding them.
    megabytes = number_format(
        size // (1024 * 1024) if whole else round(size / (1024 * 1024), 1), None if whole else 1
    )
    return gettext("%(megabytes)s MB") % {"megabytes": megabytes}
