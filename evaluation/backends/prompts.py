"""Prompt rendering and SQL extraction for chat models (Django-free)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from evaluation.backends.similarity import nearest

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "build_messages",
    "extract_sql",
    "format_examples",
    "format_schema",
    "render_prompt",
    "select_examples",
]

DEFAULT_SYSTEM_PROMPT = (
    "You translate business questions into one {dialect} SQL query for the "
    "database described by the user. Reply with the query only, in a ```sql code "
    "block."
)
DEFAULT_MAX_EXAMPLES = 3

_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n?(.*?)```", re.DOTALL)
_LABEL = re.compile(r"^\s*(?:sql|query)\s*:\s*", re.IGNORECASE)


def format_schema(schema: Mapping[str, Sequence[str]]) -> str:
    """One line per table: `table(column, column, ...)`, in captured order."""
    return "\n".join(f"{table}({', '.join(cols)})" for table, cols in schema.items())


def format_examples(examples: Sequence[Mapping[str, str]]) -> str:
    """Question/SQL pairs separated by blank lines."""
    return "\n\n".join(f"Question: {e['question']}\nSQL: {e['sql']}" for e in examples)


def select_examples(
    question: str, examples: Sequence[Mapping[str, str]], k: int
) -> list[Mapping[str, str]]:
    """The `k` examples whose questions are most similar to `question`."""
    chosen = nearest(question, [e["question"] for e in examples], k)
    return [examples[i] for i in chosen]


def render_prompt(
    template_text: str,
    *,
    schema: Mapping[str, Sequence[str]],
    examples: Sequence[Mapping[str, str]],
    question: str,
) -> str:
    """Fill the prompt version's placeholders ({schema}, {examples}, {question})."""
    return template_text.format(
        schema=format_schema(schema),
        examples=format_examples(examples),
        question=question,
    )


def build_messages(
    *,
    template_text: str,
    parameters: Mapping[str, object],
    schema: Mapping[str, Sequence[str]],
    examples: Sequence[Mapping[str, str]],
    question: str,
    dialect: str,
) -> list[dict[str, str]]:
    """Chat messages for one question: a system message and the rendered prompt.

    `parameters` of the prompt version may set `max_examples` (default 3) and
    `system_prompt` (may use {dialect}).
    """
    limit = parameters.get("max_examples", DEFAULT_MAX_EXAMPLES)
    k = limit if isinstance(limit, int) else DEFAULT_MAX_EXAMPLES
    system = parameters.get("system_prompt")
    system_text = system if isinstance(system, str) else DEFAULT_SYSTEM_PROMPT
    dialect_name = "PostgreSQL" if dialect.startswith("postgres") else "SQLite"
    return [
        {"role": "system", "content": system_text.replace("{dialect}", dialect_name)},
        {
            "role": "user",
            "content": render_prompt(
                template_text,
                schema=schema,
                examples=select_examples(question, examples, k),
                question=question,
            ),
        },
    ]


def extract_sql(reply: str) -> str:
    """The SQL in a model's reply: the first fenced block, else the whole text.

    A fence tagged with another language than SQL is skipped when an untagged or
    SQL-tagged one exists. One trailing semicolon is dropped.
    """
    fences = _FENCE.findall(reply)
    preferred = [
        body
        for lang, body in fences
        if lang.lower() in {"", "sql", "sqlite", "postgres", "postgresql", "psql"}
    ]
    text = (preferred or [body for _, body in fences] or [reply])[0]
    text = _LABEL.sub("", text.strip()).strip()
    return text[:-1].rstrip() if text.endswith(";") else text
