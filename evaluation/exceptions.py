from config.exceptions import DomainError


class TargetDatabaseError(DomainError):
    """A target database could not be registered or reached."""
