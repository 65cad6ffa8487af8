"""Inter-annotator agreement: Cohen's kappa, agreement with adjudication, target.

Read-only figures over blind double reviews (`feedback.double_review`):

- per period (ISO week or calendar month of the second verdict) and template:
  the number of verdict pairs, their observed agreement and Cohen's kappa
  (scikit-learn's `cohen_kappa_score`; undefined, reported as null, when both
  reviewers used a single verdict throughout), with the guideline versions the
  verdicts were given under;
- per reviewer: how many of their verdicts match the item's final outcome (the
  agreed verdict, or the adjudicator's decision), and how they fared on the
  items that went to adjudication;
- overall agreement of verdicts with final outcomes against the 95% target of
  the retraining standard.

Items the system closed (consent withdrawn) have no reviewed outcome and are
left out. Guideline changes in the range are listed so trends can mark them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feedback.guidelines import guideline_changes
from feedback.models import ReviewItem
from feedback.quality_models import ReviewVerdict, Verdict

TARGET = 0.95
PERIODS = ("week", "month")
OUTCOME = {
    ReviewItem.State.APPROVED: Verdict.APPROVE,
    ReviewItem.State.REJECTED: Verdict.REJECT,
}


def kappa(first: list[str], second: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels; None when it is undefined."""
    if not first or len(set(first) | set(second)) < 2:
        return None
    # Imported here: scikit-learn takes a second to load, and only this
    # report needs it (web and worker processes start without it).
    from sklearn.metrics import cohen_kappa_score

    return round(float(cohen_kappa_score(first, second)), 4)


def period_start(moment: datetime, period: str) -> datetime:
    """Start (UTC midnight) of the week (Monday) or month holding `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


@dataclass
class _Pair:
    item: ReviewItem
    first: ReviewVerdict
    second: ReviewVerdict

    @property
    def completed_at(self) -> datetime:
        return self.second.created_at

    @property
    def outcome(self) -> str | None:
        if self.item.decided_by_id is None:
            return None
        return OUTCOME.get(ReviewItem.State(self.item.state))


def _pairs(
    template: str | None, start: datetime | None, end: datetime | None
) -> list[_Pair]:
    verdicts = ReviewVerdict.objects.select_related(
        "item__template", "reviewer", "guideline_version"
    ).order_by("item_id", "created_at", "pk")
    if template:
        verdicts = verdicts.filter(item__template__name=template)
    by_item: dict[int, list[ReviewVerdict]] = defaultdict(list)
    for verdict in verdicts:
        by_item[verdict.item_id].append(verdict)
    pairs = [
        _Pair(found[0].item, found[0], found[1])
        for found in by_item.values()
        if len(found) >= 2
    ]
    return [
        p
        for p in pairs
        if (start is None or p.completed_at >= start)
        and (end is None or p.completed_at < end)
    ]


def _versions(pair: _Pair) -> set[int]:
    return {
        v.guideline_version.number
        for v in (pair.first, pair.second)
        if v.guideline_version is not None
    }


def _periods(pairs: list[_Pair], period: str) -> list[dict[str, Any]]:
    groups: dict[tuple[datetime, str], list[_Pair]] = defaultdict(list)
    for pair in pairs:
        key = (period_start(pair.completed_at, period), pair.item.template.name)
        groups[key].append(pair)
    rows = []
    for (began, name), group in sorted(groups.items()):
        first = [p.first.verdict for p in group]
        second = [p.second.verdict for p in group]
        same = sum(a == b for a, b in zip(first, second, strict=True))
        rows.append(
            {
                "period": began.strftime("%G-W%V" if period == "week" else "%Y-%m"),
                "start": began.isoformat(),
                "template": name,
                "pairs": len(group),
                "agreement": round(same / len(group), 4),
                "kappa": kappa(first, second),
                "guideline_versions": sorted(set().union(*map(_versions, group))),
            }
        )
    return rows


def _reviewers(pairs: list[_Pair]) -> list[dict[str, Any]]:
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pair in pairs:
        outcome = pair.outcome
        if outcome is None:
            continue
        adjudicated = pair.first.verdict != pair.second.verdict
        for verdict in (pair.first, pair.second):
            mine = stats[verdict.reviewer.get_username()]
            mine["verdicts"] += 1
            mine["agreed"] += verdict.verdict == outcome
            if adjudicated:
                mine["adjudicated"] += 1
                mine["agreed_in_adjudication"] += verdict.verdict == outcome
    return [
        {
            "reviewer": name,
            "verdicts": s["verdicts"],
            "agreed_with_outcome": s["agreed"],
            "agreement": round(s["agreed"] / s["verdicts"], 4),
            "adjudicated": s["adjudicated"],
            "agreed_in_adjudication": s["agreed_in_adjudication"],
        }
        for name, s in sorted(stats.items())
    ]


def agreement_report(
    *,
    period: str = "month",
    template: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The whole report (API and admin): periods, reviewers, target, changes."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    pairs = _pairs(template, start, end)
    settled = [p for p in pairs if p.outcome is not None]
    verdicts = 2 * len(settled)
    agreed = sum(
        (p.first.verdict == p.outcome) + (p.second.verdict == p.outcome)
        for p in settled
    )
    rate = round(agreed / verdicts, 4) if verdicts else None
    return {
        "period": period,
        "template": template,
        "periods": _periods(pairs, period),
        "reviewers": _reviewers(pairs),
        "adjudication": {
            "target": TARGET,
            "settled_items": len(settled),
            "adjudicated_items": sum(
                p.first.verdict != p.second.verdict for p in settled
            ),
            "verdicts": verdicts,
            "agreed_with_outcome": agreed,
            "agreement": rate,
            "meets_target": None if rate is None else rate > TARGET,
        },
        "guideline_changes": [
            {"label": label, "effective_at": when.isoformat()}
            for when, label in guideline_changes(start, end)
        ],
    }
