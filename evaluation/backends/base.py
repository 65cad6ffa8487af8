"""What every model backend returns (Django-free)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Backend", "Generation"]


@dataclass(frozen=True, slots=True)
class Generation:
    """The SQL a backend produced for one question, or why it produced none.

    `latency_ms` is the duration of the last attempt (what a user would have
    waited), `attempts` counts retries after rate limits, timeouts and 5xx.
    """

    sql: str
    latency_ms: float
    attempts: int = 1
    error: str = ""
    error_kind: str = ""

    @property
    def ok(self) -> bool:
        """True when there is SQL to score."""
        return not self.error


class Backend(Protocol):
    """Produces SQL for a question on a target database."""

    def generate(
        self,
        question: str,
        *,
        database: str,
        schema: Mapping[str, Sequence[str]],
        dialect: str = "sqlite",
    ) -> Generation:
        """Return SQL for `question`; never raise for a per-item failure."""
        ...
