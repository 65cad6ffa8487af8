"""Domain errors of evaluation runs, comparisons and alerts (mapped to 400/409)."""

from config.exceptions import ConflictError, DomainError


class RunError(DomainError):
    """An evaluation run was requested with inputs that cannot work."""


class RunStateError(ConflictError):
    """The run's current status does not allow the requested transition."""


class ComparisonError(DomainError):
    """Two runs cannot be compared (different snapshot or mode, not finished)."""
