"""Django-free rules for prompt and model content: validation, hashing, diffs."""

import difflib
import hashlib
import json
import string
from typing import Any

import sqlglot
from sqlglot.errors import ParseError

PLACEHOLDERS = frozenset({"schema", "examples", "question"})


class ContentError(ValueError):
    """Content is malformed; `field` names the offending input field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 over canonical JSON, so equal content always hashes equal."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_template_text(text: str) -> None:
    """Require {question}, allow only the known placeholders, reject bad braces."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as exc:
        raise ContentError(
            f"Malformed placeholder: {exc}. Write literal braces as {{{{ }}}}.",
            field="template_text",
        ) from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise ContentError(
            f"Unknown placeholder(s) {sorted(unknown)}; "
            f"allowed: {sorted(PLACEHOLDERS)}.",
            field="template_text",
        )
    if "question" not in fields:
        raise ContentError(
            "The template must contain the {question} placeholder.",
            field="template_text",
        )


def check_few_shot_examples(examples: Any, *, dialect: str) -> list[dict[str, str]]:
    """Validate question/SQL pairs; each SQL must parse in the target dialect."""
    if not isinstance(examples, list):
        raise ContentError("Must be a list of objects.", field="few_shot_examples")
    cleaned: list[dict[str, str]] = []
    for index, example in enumerate(examples):
        field = f"few_shot_examples[{index}]"
        if not isinstance(example, dict) or set(example) - {"question", "sql"}:
            raise ContentError(
                'Each example is {"question": str, "sql": str}.', field=field
            )
        question, sql = example.get("question"), example.get("sql")
        if not isinstance(question, str) or not question.strip():
            raise ContentError("A non-empty question is required.", field=field)
        if not isinstance(sql, str) or not sql.strip():
            raise ContentError("A non-empty sql is required.", field=field)
        try:
            sqlglot.parse_one(sql, read=dialect)
        except ParseError as exc:
            raise ContentError(
                f"SQL does not parse as {dialect}: {str(exc).splitlines()[0]}",
                field=f"{field}.sql",
            ) from None
        cleaned.append({"question": question.strip(), "sql": sql.strip()})
    return cleaned


def diff_prompt_content(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Describe what changed between two prompt contents, for people to read."""
    old_examples = [(e["question"], e["sql"]) for e in old["few_shot_examples"]]
    new_examples = [(e["question"], e["sql"]) for e in new["few_shot_examples"]]
    old_params, new_params = old["parameters"], new["parameters"]
    return {
        "template_text": list(
            difflib.unified_diff(
                old["template_text"].splitlines(),
                new["template_text"].splitlines(),
                fromfile="old",
                tofile="new",
                lineterm="",
            )
        ),
        "few_shot_examples": {
            "added": [
                {"question": q, "sql": s}
                for q, s in new_examples
                if (q, s) not in old_examples
            ],
            "removed": [
                {"question": q, "sql": s}
                for q, s in old_examples
                if (q, s) not in new_examples
            ],
        },
        "parameters": {
            key: {"old": old_params.get(key), "new": new_params.get(key)}
            for key in sorted(set(old_params) | set(new_params))
            if old_params.get(key) != new_params.get(key)
        },
    }
