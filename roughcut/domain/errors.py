"""Domain errors: a stable `code`, a message, optional field errors; never an HTTP status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    """Base of every error a client may see; edges map it by walking the MRO."""

    code = "domain_error"
    default_message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.fields = dict(fields or {})
        self.details = dict(details or {})
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "validation_failed"
    default_message = "The request has invalid fields."


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    default_message = "Authentication is required."


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    default_message = "E-mail or password is wrong."


class TokenMissing(NotAuthenticated):
    code = "token_missing"
    default_message = "An access token is required."


class TokenInvalid(NotAuthenticated):
    code = "token_invalid"
    default_message = "The token is not valid."


class TokenExpired(NotAuthenticated):
    code = "token_expired"
    default_message = "The token has expired."


class RefreshTokenReused(NotAuthenticated):
    code = "refresh_token_reused"
    default_message = "This refresh token was already used; the session has been revoked."


class SessionRevoked(NotAuthenticated):
    code = "session_revoked"
    default_message = "The session has ended; log in again."


class ReauthenticationRequired(NotAuthenticated):
    code = "reauthentication_required"
    default_message = "Confirm your password or log in again first."


class PermissionDenied(DomainError):
    code = "permission_denied"
    default_message = "You may not do this."


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"
    default_message = "The X-CSRF-Token header is missing or does not match."


class SocialEmailUnverified(PermissionDenied):
    code = "social_email_unverified"
    default_message = "The provider did not confirm this e-mail address."


class SignatureInvalid(PermissionDenied):
    code = "signature_invalid"
    default_message = "The signed URL is not valid for this request."


class UrlExpired(PermissionDenied):
    code = "url_expired"
    default_message = "The signed URL has expired."


class ContentMismatch(ValidationFailed):
    code = "content_mismatch"
    default_message = "The stored file does not match what the upload declared."


class NotFound(DomainError):
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    code = "conflict"
    default_message = "This conflicts with the current state."


class UploadNotPending(Conflict):
    code = "upload_not_pending"
    default_message = "The upload is already completed or aborted."


class UploadIncomplete(Conflict):
    code = "upload_incomplete"
    default_message = "The upload's bytes have not all arrived."


class CodeInvalid(DomainError):
    code = "code_invalid"
    default_message = "The code is wrong, expired or used up."


class VerificationTokenInvalid(DomainError):
    code = "verification_token_invalid"
    default_message = "The verification token is wrong, expired or already used."


class RateLimited(DomainError):
    code = "rate_limited"
    default_message = "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None, *, limit: int = 0, window: int = 0) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
        self.limit = limit
        self.window = window


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    default_message = "The request body is too large."


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
    default_message = "The sign-in provider could not be reached."


class SocialLoginFailed(DomainError):
    code = "social_login_failed"
    default_message = "The sign-in provider refused the authorization."


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    default_message = "The service is not ready."
    retry_after: int | None = None  # seconds, answered as Retry-After when known


class LimiterUnavailable(ServiceUnavailable):
    """A rate limit could not be counted: the limiter's store (Redis) did not answer."""

    default_message = "Rate limits cannot be checked right now; try again shortly."
    retry_after = 5


class TransactionConflict(ServiceUnavailable):
    """A deadlock or serialization failure that outlasted the retries (nothing of it was stored)."""

    code = "transaction_conflict"
    default_message = "The change collided with concurrent changes; try again."
