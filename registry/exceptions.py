from config.exceptions import ConflictError, DomainError


class RegistryError(DomainError):
    """A registry rule refused the request."""


class DuplicateVersionError(ConflictError):
    """The same content is already registered."""


class NotServableError(ConflictError):
    """The template has no production pair to serve."""


class FrozenLabelError(ConflictError):
    """The label is a frozen baseline that only a governed change may move."""
