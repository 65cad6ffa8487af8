"""The nearest-example baseline: no network, no model (Django-free).

It answers with the SQL of the prompt version's few-shot example whose question is
most similar to the asked one, so its accuracy rises exactly when useful examples
are added to the prompt: the demo's and the test suite's default model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from evaluation.backends.base import Generation
from evaluation.backends.similarity import rank

__all__ = ["OfflineRetrievalBackend"]


class OfflineRetrievalBackend:
    """Answer with the SQL of the most similar few-shot example of the database."""

    def __init__(
        self, *, examples: Sequence[Mapping[str, str]], example_database: str
    ) -> None:
        """`examples` are the prompt version's; they belong to `example_database`."""
        self.examples = list(examples)
        self.example_database = example_database

    def generate(
        self,
        question: str,
        *,
        database: str,
        schema: Mapping[str, Sequence[str]],
        dialect: str = "sqlite",
    ) -> Generation:
        """The nearest example's SQL, or a `no_example` error for another database."""
        started = time.monotonic()
        if database != self.example_database or not self.examples:
            return Generation(
                "",
                0.0,
                1,
                f"the prompt has no few-shot example for database {database!r}",
                "no_example",
            )
        best, _ = rank(question, [e["question"] for e in self.examples])[0]
        elapsed = (time.monotonic() - started) * 1000.0
        return Generation(self.examples[best]["sql"], elapsed)
