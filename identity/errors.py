"""Errors the verification pipeline raises for input a person has to retake or fix.

Every one carries a stable `code` (for the record, metrics and tests) and a `message` written for the
person holding the phone: what went wrong and what to do about it. Messages never quote the image,
its metadata or any text read from it, so an error can be logged or shown without leaking the ID.
"""

from __future__ import annotations


class VerificationInputError(Exception):
    """Base for problems with what the subject sent, as opposed to bugs or missing system packages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Which upload it is about ("headshot" or "document"), set by the pipeline.
        self.upload = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"
