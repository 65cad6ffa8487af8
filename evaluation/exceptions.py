from config.exceptions import DomainError


class GoldenSetError(DomainError):
    """A golden example or snapshot rule refused the request."""


class BackendConfigurationError(DomainError):
    """A model version cannot be run: unknown provider or missing endpoint."""
