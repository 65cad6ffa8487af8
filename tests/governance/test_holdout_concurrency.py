"""Establishing a holdout from several places at once, on PostgreSQL."""

import pytest
from django.contrib.auth.models import User

from governance.chain import verify_chain
from governance.exceptions import HoldoutExistsError
from governance.holdout import establish_holdout
from governance.models import DecisionLogEntry
from registry.models import Label
from tests.governance.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_four_establishments_at_once_make_one_holdout(
    roles_present: None, production: Label, ml_lead: User
) -> None:
    def establish(index: int) -> str:
        try:
            establish_holdout(template=production.template, acting_user=ml_lead)
        except HoldoutExistsError:
            return "refused"
        return "established"

    assert sorted(run_together(establish, 4)) == ["established"] + ["refused"] * 3
    assert Label.objects.filter(name=Label.Name.HOLDOUT).count() == 1
    assert DecisionLogEntry.objects.filter(decision="rebaseline").count() == 1
    assert verify_chain().ok
