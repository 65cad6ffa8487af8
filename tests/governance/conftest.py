"""Governance personas and evaluation-run builders (engineered summaries)."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from evaluation.models import (
    GoldenSetSnapshot,
)
from governance.models import RolloutPolicy
from registry.models import PromptTemplate
from targets.models import TargetDatabase
from tests.governance.run_builders import make_snapshot
from tests.helpers import ensure_roles


@pytest.fixture
def roles_present(db: None) -> None:
    ensure_roles()


@pytest.fixture
def ml_lead2(make_user: Callable[..., User]) -> User:
    return make_user("max", "ml_lead", is_staff=True)


@pytest.fixture
def safety(make_user: Callable[..., User]) -> User:
    return make_user("sam", "ai_safety", is_staff=True)


@pytest.fixture
def product_owner(make_user: Callable[..., User]) -> User:
    return make_user("pia", "product", is_staff=True)


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return make_snapshot(target_db, "golden-1", 4)


@pytest.fixture
def immediate_rollout(template: PromptTemplate) -> RolloutPolicy:
    """The template promotes production at once, as before staged rollouts.

    For modules about approvals, gates, cards, rollbacks and the cycle, whose
    assertions are about what an approval records; the staged default has its
    own tests (test_rollout.py).
    """
    return RolloutPolicy.objects.create(
        template=template, mode=RolloutPolicy.Mode.IMMEDIATE
    )
