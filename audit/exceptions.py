"""Errors of the ground audit layer; config.api maps them to HTTP."""

from config.exceptions import ConflictError


class AppendOnlyError(ConflictError):
    """A record is written once and never changed or deleted (409)."""

    default_code = "append_only"
