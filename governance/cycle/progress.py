"""What a running cycle carries between its steps: options, outcome, records.

Every step records itself on the `RetrainingCycle` through `StepRecorder`
(status, timings, numbers); `complete` marks the cycle finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from governance.cycle.models import RetrainingCycle
from governance.cycle.validate import Thresholds
from governance.exceptions import GovernanceError

Status = RetrainingCycle.Status
ACTIVE = (Status.RUNNING, Status.SHADOWING)


@dataclass(frozen=True)
class Progress:
    """What the cycle is doing, for progress bars: a step, or items of a run."""

    step: str
    done: int = 0
    total: int = 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class CycleOptions:
    """Bounds and switches of one cycle; stored on it and reused on resume."""

    max_per_segment: int = 8
    max_total: int = 40
    min_examples: int = 5
    max_shift: float = 0.5
    max_contaminated_share: float = 0.5
    shadow_share: str = ""
    min_shadow_interactions: int = 20
    export_training: bool = False
    challenger_model: str = ""
    timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_per_segment < 1 or self.max_total < 1:
            raise GovernanceError("Few-shot bounds must be at least 1.", field="bounds")
        if self.min_examples < 1:
            raise GovernanceError("At least one example is needed.", field="min")
        if self.shadow_share:
            try:
                share = Decimal(self.shadow_share)
            except ArithmeticError:
                raise GovernanceError(
                    "A share is a number such as 0.2.", field="shadow_share"
                ) from None
            if not Decimal(0) < share < Decimal(1):
                raise GovernanceError(
                    "The shadow share lies strictly between 0 and 1.",
                    field="shadow_share",
                )

    def thresholds(self) -> Thresholds:
        return Thresholds(
            min_examples=self.min_examples,
            max_shift=self.max_shift,
            max_contaminated_share=self.max_contaminated_share,
        )


@dataclass
class CycleOutcome:
    """The cycle, what this call reused, and what it still waits for ("")."""

    cycle: RetrainingCycle
    reused: list[str] = field(default_factory=list)
    waiting: str = ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class StepRecorder:
    """Times a step and stores it on the cycle (a repeated step replaces its row)."""

    def __init__(self, cycle: RetrainingCycle, on_progress: ProgressCallback | None):
        self.cycle = cycle
        self.on_progress = on_progress

    def begin(self, name: str) -> tuple[str, float, datetime]:
        if self.on_progress is not None:
            self.on_progress(Progress(step=name))
        return name, time.monotonic(), timezone.now()

    def end(
        self,
        started: tuple[str, float, datetime],
        *,
        status: str = "ok",
        numbers: dict[str, Any] | None = None,
        detail: str = "",
    ) -> None:
        name, clock, at = started
        row = {
            "name": name,
            "status": status,
            "started_at": _iso(at),
            "finished_at": _iso(timezone.now()),
            "duration_ms": round((time.monotonic() - clock) * 1000),
            "numbers": numbers or {},
            "detail": detail,
        }
        steps = [s for s in self.cycle.steps if s["name"] != name]
        self.cycle.steps = [*steps, row]
        self.cycle.save(update_fields=["steps"])


def complete(cycle: RetrainingCycle) -> None:
    """Mark the cycle finished."""
    cycle.status, cycle.finished_at = Status.COMPLETED, timezone.now()
    cycle.save(update_fields=["status", "finished_at"])
