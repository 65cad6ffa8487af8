"""Base classes for domain errors; one DRF handler (config.api) maps them to HTTP."""


class DomainError(Exception):
    """A rule of the domain refused the request (HTTP 400)."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(DomainError):
    """The request clashes with the current state (HTTP 409)."""

    status_code = 409
    default_code = "conflict"
