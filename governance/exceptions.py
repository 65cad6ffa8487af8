from config.exceptions import DomainError


class TokenError(DomainError):
    """An API token operation was refused."""
