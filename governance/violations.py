"""The safety-violation trigger: unsafe SQL or safety flags above the accepted rate.

An interaction of the last day counts as a violation when any of these holds:

- `sandbox_refused`: SQL was generated and the outcome is `refused`, so the
  assistant's sandbox refused to run it (a refusal without SQL is the assistant
  declining to answer, which is not a violation);
- `gate_denied`: the SQL gate (`targets.sqlgate`) rejects the stored SQL as
  unsafe: a write, DDL, several statements, a forbidden function or system
  table (SQL that merely does not parse is not a safety matter);
- `restricted`: the SQL reads a table or column the template restricts (the
  same check as the safety suite's, with the target's captured schema);
- `flagged`: feedback escalated it to a person, or explicit feedback on it is
  categorized `safety` (its current category: an analyst's recategorization
  counts).

Above `safety_violation_rate` an immediate review (an `investigate` decision)
opens, once per day.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from sqlglot import exp

from evaluation.safety import restricted_references
from evaluation.statistics import wilson_interval
from feedback.categories import SAFETY
from feedback.models import Feedback, Interaction
from feedback.selectors import current_topic
from governance import gates
from registry.models import PromptTemplate
from targets.restricted import Restricted, parse_restricted
from targets.schema import sqlglot_schema
from targets.sqlgate import UnsafeSQL, parse_checked

WINDOW = timedelta(days=1)
SOURCES = ("sandbox_refused", "gate_denied", "restricted", "flagged")
EXAMPLES = 10


def _gate(sql: str, dialect: str) -> tuple[str, exp.Expr | None]:
    """The gate's reason for refusing `sql` as unsafe ("" when it does not) and
    the tree it accepted (None when refused or unparsable)."""
    if not sql.strip():
        return "", None
    try:
        return "", parse_checked(sql, dialect=dialect)
    except UnsafeSQL as err:
        return err.reason, None
    except ValueError:
        return "", None


def _restricted(template: PromptTemplate) -> Restricted:
    try:
        return parse_restricted(template.restricted)
    except ValueError:
        # The registry validates the list on save; an old malformed one must not
        # stop the other safety checks.
        return Restricted()


def count_violations(
    template: PromptTemplate, start: datetime, end: datetime
) -> dict[str, Any]:
    """Interactions in [start, end) and those with a violation, by source."""
    rows = Interaction.objects.filter(
        template=template, occurred_at__gte=start, occurred_at__lt=end
    ).values_list("event_id", "generated_sql", "outcome")
    flagged = set(
        Feedback.objects.filter(
            interaction__template=template,
            interaction__occurred_at__gte=start,
            interaction__occurred_at__lt=end,
        )
        .annotate(current_topic=current_topic())
        .filter(Q(type=Feedback.Type.ESCALATED) | Q(current_topic=SAFETY))
        .values_list("interaction_id", flat=True)
    )
    target = template.target_database
    dialect, schema = target.dialect, sqlglot_schema(target.schema)
    restricted = _restricted(template)
    by_source = dict.fromkeys(SOURCES, 0)
    violating, examples = 0, list[dict[str, Any]]()
    total = 0
    for event_id, sql, outcome in rows:
        total += 1
        denial, tree = _gate(sql, dialect)
        reads = (
            restricted_references(tree, restricted, dialect=dialect, schema=schema)
            if tree is not None and restricted
            else []
        )
        hits = {
            "sandbox_refused": bool(sql.strip())
            and outcome == Interaction.Outcome.REFUSED,
            "gate_denied": bool(denial),
            "restricted": bool(reads),
            "flagged": event_id in flagged,
        }
        for source, hit in hits.items():
            by_source[source] += hit
        if any(hits.values()):
            violating += 1
            if len(examples) < EXAMPLES:
                sources = [s for s, hit in hits.items() if hit]
                examples.append(
                    {
                        "interaction": str(event_id),
                        "sources": sources,
                        "gate": denial,
                        "restricted": reads,
                    }
                )
    return {
        "interactions": total,
        "violations": violating,
        "by_source": by_source,
        "examples": examples,
    }


def check_safety_violations(
    template: PromptTemplate, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """Fire when the last day's violation rate exceeds the accepted rate.

    Needs `feedback_min_interactions` interactions, like the feedback spike: on
    fewer, one violation is a rate far above any threshold.
    """
    policy = gates.policy_for(template)
    start = now - WINDOW
    counts = count_violations(template, start, now)
    total = counts["interactions"]
    if total < max(1, policy.feedback_min_interactions):
        return None
    rate = counts["violations"] / total
    threshold = policy.safety_violation_rate
    if rate <= threshold:
        return None
    return f"day:{now.date()}", {
        "rate": round(rate, 4),
        "threshold": threshold,
        "interval_95": wilson_interval(counts["violations"], total),
        "start": start.isoformat(),
        "end": now.isoformat(),
        **counts,
    }
