from config.exceptions import DomainError


class TargetDatabaseError(DomainError):
    """A target database could not be registered or reached."""


class GoldenSetError(DomainError):
    """A golden example or snapshot rule refused the request."""
