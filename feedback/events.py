"""Validation of raw ingestion payloads (Django-free, fast, field-precise).

DRF serializers cost tens of microseconds per item; the batch path validates up
to 1,000 events per request, so events are checked here by hand and DRF
serializers only document the shape (feedback.serializers). Every error names its
field. Nothing here touches the database or redacts: see feedback.ingestion.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from feedback.categories import topic_problem

OUTCOMES = frozenset(
    ("success", "sql_error", "empty_result", "timeout", "refused", "not_executed")
)
CONSENT_SCOPES = frozenset(("service_only", "improvement", "training"))
EXPLICIT = {"thumbs_up", "thumbs_down", "comment", "correction"}
IMPLICIT = {"edited", "copied", "retried", "abandoned", "escalated"}
IMPLICIT |= {"time_to_first_action"}
FEEDBACK_CATEGORY: dict[str, str] = {
    **dict.fromkeys(EXPLICIT, "explicit"),
    **dict.fromkeys(IMPLICIT, "implicit"),
    "outcome_metric": "outcome",
}
NEGATIVE_TYPES = frozenset(("thumbs_down", "correction", "retried", "abandoned"))
NEGATIVE_TYPES |= {"escalated"}

# Trust weight per submitter role: how much a signal from that role counts when
# the review queue ranks work. Roles match governance groups, plus end users.
ROLE_WEIGHTS: dict[str, float] = {
    "senior_analyst": 1.0,
    "ml_lead": 0.9,
    "analyst": 0.8,
    "ai_safety": 0.8,
    "product": 0.6,
    "end_user": 0.5,
}
DEFAULT_ROLE = "end_user"

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CANONICAL_UUID = re.compile(
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
MAX_QUESTION = 10_000
MAX_SQL = 100_000
MAX_COMMENT = 5_000
FUTURE_SKEW = timedelta(minutes=5)
Errors = dict[str, list[str]]


class Invalid(Exception):
    """One field is wrong; the message says how."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(value: Any, *, max_length: int, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise Invalid("This field is required.")
        return ""
    if not isinstance(value, str):
        raise Invalid("Must be a string.")
    if len(value) > max_length:
        raise Invalid(f"At most {max_length} characters.")
    if "\x00" in value:
        raise Invalid("Must not contain NUL characters.")
    if not value.isascii() and _SURROGATE.search(value):
        raise Invalid("Must not contain lone surrogates (invalid Unicode).")
    if required and not value.strip():
        raise Invalid("Must not be blank.")
    return value


def _slug(value: Any, *, max_length: int, required: bool) -> str:
    text = _text(value, max_length=max_length, required=required)
    if text and _SLUG.match(text) is None:
        raise Invalid("Letters, digits and . _ : - only.")
    return text


def _uuid(value: Any) -> str:
    """The id in its canonical text (lowercase, hyphenated), as str(UUID) writes it.

    Text, not a UUID object: ingestion hashes, compares and stores ids as text,
    and a UUID object's parsing, formatting and hashing run in Python (some 5 us
    per event). Clients almost always send the canonical form, taken as it is.
    """
    if value is None or value == "":
        raise Invalid("This field is required.")
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise Invalid("Must be a UUID string.")
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Invalid("Must be a valid UUID.") from None


def _int(value: Any, *, required: bool, minimum: int = 0) -> int | None:
    if value is None:
        if required:
            raise Invalid("This field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("Must be a number.")
    if isinstance(value, float) and not value.is_integer():
        # 1.5 is not an id: rounding it would store another row's id.
        raise Invalid("Must be a whole number.")
    number = int(value)
    if number < minimum or number > 2_147_483_647:
        raise Invalid(f"Must be between {minimum} and 2147483647.")
    return number


def _float(value: Any, *, required: bool) -> float | None:
    if value is None:
        if required:
            raise Invalid("This field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("Must be a number.")
    try:
        number = float(value)
    except OverflowError:
        # A 400-digit integer parses as JSON but no float holds it.
        raise Invalid("Must fit in a 64-bit float.") from None
    if not math.isfinite(number):
        raise Invalid("Must be a finite number.")
    return number


def _choice(value: Any, choices: frozenset[str] | dict[str, Any]) -> str:
    if value is None or value == "":
        raise Invalid("This field is required.")
    if not isinstance(value, str) or value not in choices:
        raise Invalid(f"Must be one of: {', '.join(sorted(choices))}.")
    return value


def _timestamp(value: Any, *, now: datetime) -> datetime:
    if value is None or value == "":
        raise Invalid("This field is required.")
    if not isinstance(value, str):
        raise Invalid("Must be an ISO 8601 timestamp string.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("Must be an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        raise Invalid("Must include a time zone offset (e.g. Z or +02:00).")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+14:00 and 9999-12-31T23:59-14:00 leave datetime's range.
        raise Invalid("Lies outside the years 1 to 9999 in UTC.") from None
    if moment > now + FUTURE_SKEW:
        raise Invalid("Lies in the future.")
    return moment


def _id_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise Invalid("Must be a list of at most 100 ids.")
    for item in value:
        if not isinstance(item, str) or not item or len(item) > 200:
            raise Invalid("Each id must be a non-empty string of at most 200 chars.")
        if _SLUG.match(item) is None:
            raise Invalid("Ids may hold letters, digits and . _ : - only.")
    return value


Rule = Callable[[Any], Any]


def _check(raw: dict[str, Any], rules: dict[str, Rule], errors: Errors) -> dict:
    clean: dict[str, Any] = {}
    get = raw.get
    for name, rule in rules.items():
        try:
            clean[name] = rule(get(name))
        except Invalid as exc:
            errors[name] = [exc.message]
    if raw.keys() <= rules.keys():
        # The common case, decided without building the set of unknown names.
        return clean
    for name in raw.keys() - rules.keys():
        # The name is echoed back: a lone surrogate in it could not be encoded.
        errors[name.encode(errors="backslashreplace").decode()] = ["Unknown field."]
    return clean


def interaction_rules(now: datetime) -> dict[str, Rule]:
    """Field rules of an interaction event (values as sent, before redaction)."""
    return {
        "kind": lambda v: v,
        "event_id": _uuid,
        "trace_id": lambda v: _slug(v, max_length=100, required=False),
        "session_id": lambda v: _slug(v, max_length=200, required=False),
        "user_id": lambda v: _text(v, max_length=200, required=True),
        "analyst_id": lambda v: _text(v, max_length=200, required=False),
        "tenant_id": lambda v: _slug(v, max_length=100, required=True),
        "task_type": lambda v: _slug(v, max_length=50, required=True),
        "question": lambda v: _text(v, max_length=MAX_QUESTION, required=True),
        "generated_sql": lambda v: _text(v, max_length=MAX_SQL, required=False),
        "prompt_version": lambda v: _int(v, required=True, minimum=1),
        "model_version": lambda v: _int(v, required=True, minimum=1),
        "retrieval_ids": _id_list,
        "knowledge_version": lambda v: _slug(v, max_length=100, required=False),
        "output_tokens": lambda v: _int(v, required=False),
        "input_tokens": lambda v: _int(v, required=False),
        "reported_model": lambda v: _text(v, max_length=200, required=False),
        "client_latency_ms": lambda v: _int(v, required=False),
        "server_latency_ms": lambda v: _int(v, required=False),
        "outcome": lambda v: _choice(v, OUTCOMES),
        "country": _country,
        "consent_scope": lambda v: _choice(v, CONSENT_SCOPES),
        "occurred_at": lambda v: _timestamp(v, now=now),
    }


def _country(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or _COUNTRY.match(value) is None:
        raise Invalid("Must be an ISO 3166-1 alpha-2 code such as DE.")
    return value


def feedback_rules(now: datetime) -> dict[str, Rule]:
    """Field rules of a feedback event (values as sent, before redaction)."""
    return {
        "kind": lambda v: v,
        "event_id": _uuid,
        "interaction_id": _uuid,
        "type": lambda v: _choice(v, FEEDBACK_CATEGORY),
        "comment": lambda v: _text(v, max_length=MAX_COMMENT, required=False),
        "corrected_sql": lambda v: _text(v, max_length=MAX_SQL, required=False),
        "metric_name": lambda v: _slug(v, max_length=100, required=False),
        "value": lambda v: _float(v, required=False),
        "submitter_id": lambda v: _text(v, max_length=200, required=False),
        "submitter_role": lambda v: DEFAULT_ROLE if v is None else _role(v),
        "occurred_at": lambda v: _timestamp(v, now=now),
        "topic": _topic,
    }


def _topic(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid("Must be a string.")
    return value


def _role(value: Any) -> str:
    return _choice(value, ROLE_WEIGHTS)


def _feedback_cross_rules(clean: dict[str, Any], errors: Errors) -> None:
    kind = clean.get("type")
    if kind is None:
        return
    needs = {
        "comment": ("comment",),
        "correction": ("corrected_sql",),
        "time_to_first_action": ("value",),
        "outcome_metric": ("metric_name", "value"),
    }.get(kind, ())
    for name in needs:
        if clean.get(name) in (None, "") and name not in errors:
            errors[name] = [f"Required for {kind} feedback."]
    if clean.get("corrected_sql") and kind != "correction":
        errors.setdefault("corrected_sql", ["Only correction feedback carries SQL."])
    if clean.get("value") is not None and kind not in (
        "time_to_first_action",
        "outcome_metric",
    ):
        errors.setdefault("value", [f"{kind} feedback carries no value."])
    if clean.get("metric_name") and kind != "outcome_metric":
        errors.setdefault("metric_name", ["Only outcome_metric carries a name."])
    if kind == "time_to_first_action" and (clean.get("value") or 0) < 0:
        errors.setdefault("value", ["Must be zero or more milliseconds."])
    if clean.get("comment") and FEEDBACK_CATEGORY[kind] != "explicit":
        errors.setdefault("comment", ["Only explicit feedback carries a comment."])
    if clean.get("topic") and (problem := topic_problem(kind, clean["topic"])):
        errors.setdefault("topic", [problem])


class Validator:
    """Validates events against rules built once per request (one `now`)."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now
        self._rules = {
            "interaction": interaction_rules(now),
            "feedback": feedback_rules(now),
        }

    def validate(
        self, raw: Any, *, kind: str | None = None
    ) -> tuple[str, dict[str, Any], Errors]:
        """Return (kind, cleaned fields, errors by field) for one raw event.

        `kind` forces the event kind (single-event endpoints); otherwise the
        payload's `kind` ("interaction" or "feedback") decides.
        """
        if not isinstance(raw, dict):
            return "", {}, {"non_field_errors": ["Each event must be a JSON object."]}
        sent = raw.get("kind")
        if sent is not None and not isinstance(sent, str):
            return "", {}, {"kind": ['Must be the string "interaction" or "feedback".']}
        kind = kind or sent
        if sent not in (None, kind):
            return "", {}, {"kind": [f"This endpoint takes {kind} events."]}
        if kind not in self._rules:
            return "", {}, {"kind": ['Must be "interaction" or "feedback".']}
        errors: Errors = {}
        clean = _check(raw, self._rules[kind], errors)
        if kind == "feedback":
            _feedback_cross_rules(clean, errors)
        return kind, clean, errors
