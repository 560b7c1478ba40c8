"""Errors that reach the caller in Cloudinary's shape: ``{"error": {"message": ...}}``.

Services raise these; the web layer renders them with their status code. The statuses are the
ones the official clients understand (the Node uploader accepts only 200, 400, 401, 404, 420,
429 and 500, so upload-side code avoids 403 and 409).
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class AlreadyExists(ApiError):
    status = 409


class TooLarge(ApiError):
    # Cloudinary answers oversize files with 400 and a message; 413 would break the Node client.
    status = 400


class RateLimited(ApiError):
    status = 420


class TooManyRequests(ApiError):
    """One client address past its budget (auth/client_limits.py); the official clients raise
    their rate-limit error for 429 as they do for 420."""

    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(ApiError):
    """For medialoom's own endpoints (flow webhooks), where no Cloudinary client needs a 400."""

    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class LoopDetected(ApiError):
    """A flow webhook called by a chain of runs that start one another, past the limit."""

    status = 508
