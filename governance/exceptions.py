from config.exceptions import ConflictError, DomainError


class GovernanceError(DomainError):
    """A governance rule refused the request (decision log, promotions, triggers)."""


class NotPermittedError(DomainError):
    """The acting person may not take this action on this object (HTTP 403)."""

    status_code = 403
    default_code = "permission_denied"


class SelfApprovalError(NotPermittedError):
    """Four-eyes: the requester may not approve, reject or override their request."""

    default_code = "four_eyes"


class StaleRequestError(ConflictError):
    """The request is closed or changed since the reviewer saw it (HTTP 409)."""


class HoldoutExistsError(ConflictError):
    """The template already has its holdout; only a baseline change moves it."""
