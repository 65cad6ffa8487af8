"""Domain errors of the feedback app; config.api maps them to 400/409."""

from config.exceptions import ConflictError, DomainError


class FeedbackError(DomainError):
    """A feedback rule refused the request (400)."""


class EventConflictError(ConflictError):
    """An event id was replayed with a different payload (409); nothing stored."""

    default_code = "event_id_conflict"


class ReviewError(DomainError):
    """A review-queue guard refused the transition (400)."""


class ReviewConflictError(ConflictError):
    """The review item is not in a state that allows this transition (409)."""

    default_code = "review_state"


class CalibrationRequired(DomainError):
    """A reviewer must answer the calibration set before the live queue (403)."""

    status_code = 403
    default_code = "calibration_required"


class PrivacyError(DomainError):
    """A privacy request is malformed or cannot be carried out (400)."""


class PrivacyConflictError(ConflictError):
    """The privacy request is not pending (409)."""

    default_code = "privacy_request_state"
