"""Which label served a pair at a moment, from the labels' recorded history.

Labels move (promotions, rollbacks, rollouts), so the label an interaction or a
run belongs to is the one that pointed at its (prompt version, model version)
pair *then*, not now. Every move is a simple-history row of the label, which
is the timeline read here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from registry.models import Label, PromptTemplate
from registry.routing import bucket

Pair = tuple[int, int]
# The order of registry.selectors.route_session: the first whose sticky share
# takes the session serves it, production otherwise. Shadow pairs are run
# beside another label and never shown, so they serve nobody.
ROUTED = (Label.Name.HOLDOUT, Label.Name.ROLLOUT, Label.Name.CHALLENGER)
SERVING = (*ROUTED, Label.Name.PRODUCTION)


@dataclass(frozen=True, slots=True)
class Stint:
    """A label pointing at one pair with one traffic share from `start` until
    `end` (None: still)."""

    name: str
    pair: Pair
    share: float
    start: dt.datetime
    end: dt.datetime | None

    def covers(self, at: dt.datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True)
class Timeline:
    """A template's labels over time."""

    template_name: str
    stints: list[Stint]

    def state_at(self, at: dt.datetime) -> dict[str, Stint]:
        """Label name -> the stint in force at `at`."""
        return {s.name: s for s in self.stints if s.covers(at)}

    def labels_of(self, pair: Pair, at: dt.datetime) -> list[str]:
        """Every label pointing at `pair` at `at`, production first."""
        names = [n for n, s in self.state_at(at).items() if s.pair == pair]
        return sorted(names, key=label_rank)

    def served_by(self, pair: Pair, at: dt.datetime, session_id: str) -> str | None:
        """The label that served a session `pair` answered at `at`, or None when
        no serving label pointed at the pair then (a pinned or retired pair).

        Two labels may point at one pair (a holdout frozen at the production
        pair): the session's sticky buckets under the shares in force then
        decide, as route_session did when it served it.
        """
        state = self.state_at(at)
        matching = [n for n in SERVING if n in state and state[n].pair == pair]
        if len(matching) <= 1:
            return matching[0] if matching else None
        for name in ROUTED:
            stint = state.get(name)
            if (
                stint is not None
                and session_id
                and (
                    bucket(salt=f"{self.template_name}:{name}", session_id=session_id)
                    < stint.share
                )
            ):
                return name if name in matching else matching[-1]
        return Label.Name.PRODUCTION if "production" in matching else matching[-1]


def label_rank(name: str) -> int:
    """Production, challenger, rollout, holdout, shadow, then the rest."""
    known: list[str] = [
        Label.Name.PRODUCTION,
        Label.Name.CHALLENGER,
        Label.Name.ROLLOUT,
        Label.Name.HOLDOUT,
        Label.Name.SHADOW,
    ]
    return known.index(name) if name in known else len(known)


def _stints(
    rows: Iterable[tuple[str, int, int, float, dt.datetime, str]],
) -> list[Stint]:
    stints: list[Stint] = []
    open_by_name: dict[str, int] = {}
    for name, prompt, model, share, when, kind in rows:
        if name in open_by_name:
            index = open_by_name.pop(name)
            old = stints[index]
            stints[index] = Stint(old.name, old.pair, old.share, old.start, when)
        if kind != "-":
            open_by_name[name] = len(stints)
            stints.append(Stint(name, (prompt, model), float(share), when, None))
    return stints


def label_timeline(*, template: PromptTemplate) -> Timeline:
    """Every stint of the template's labels, from their history (one query)."""
    rows = (
        Label.history.filter(template_id=template.pk)
        .order_by("history_date", "history_id")
        .values_list(
            "name",
            "prompt_version_id",
            "model_version_id",
            "traffic_share",
            "history_date",
            "history_type",
        )
    )
    return Timeline(template.name, _stints(rows))
