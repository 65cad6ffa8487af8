"""Errors of accounts and credentials; config.api maps them to HTTP."""

from config.exceptions import DomainError


class TokenError(DomainError):
    """An API token operation was refused."""


class FeedbackTokenError(DomainError):
    """A widget feedback token is missing, forged, expired or for another response."""

    status_code = 403
    default_code = "feedback_token"
