from config.exceptions import DomainError


class GoldenSetError(DomainError):
    """A golden example or snapshot rule refused the request."""
