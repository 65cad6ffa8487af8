"""Errors of target databases; config.api maps them to HTTP."""

from config.exceptions import DomainError


class TargetDatabaseError(DomainError):
    """A target database could not be registered or reached."""


class GoldUnrunnable(TargetDatabaseError):
    """A golden query does not run on its target, or not with a complete result."""
