"""Risk-tier approval rules, held as data.

Changed through code review rather than at run time: these rules are what
protects production, so weakening them must itself be reviewed.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from governance.exceptions import GovernanceError


@dataclass(frozen=True)
class TierRule:
    """Who must approve: one distinct person per listed role.

    `automatic` tiers promote as soon as every gate passes, with no approver.
    `risk_assessment`: "none"; "requested" (approvers are asked for one, the
    model card says when it is missing); "required" (no approval without one,
    on any path).
    """

    tier: int
    automatic: bool
    required_roles: tuple[str, ...]
    risk_assessment: str = "none"

    @property
    def quorum(self) -> int:
        return len(self.required_roles)


TIER_RULES: dict[int, TierRule] = {
    1: TierRule(tier=1, automatic=True, required_roles=()),
    2: TierRule(
        tier=2,
        automatic=False,
        required_roles=("ml_lead",),
        risk_assessment="requested",
    ),
    3: TierRule(
        tier=3,
        automatic=False,
        required_roles=("ai_safety", "product", "ml_lead"),
        risk_assessment="required",
    ),
}

# A holdout baseline change is never automatic, whatever the template's tier:
# the baseline is what every later release is measured against.
BASELINE_MIN_TIER = 2

APPROVER_ROLES = frozenset(
    role for rule in TIER_RULES.values() for role in rule.required_roles
)


def rule_for(tier: int) -> TierRule:
    """The rule of a tier; an unknown tier is refused rather than guessed."""
    try:
        return TIER_RULES[tier]
    except KeyError:
        raise GovernanceError(f"No approval rule for tier {tier}.") from None


def missing_roles(rule: TierRule, covered: Iterable[str]) -> list[str]:
    """Roles still lacking an approval, given the roles valid approvals cover."""
    remaining = list(rule.required_roles)
    for role in covered:
        if role in remaining:
            remaining.remove(role)
    return remaining
