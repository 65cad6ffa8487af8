"""The compare page in headless Chromium: pick two runs, read the summary,
filter to changed items, open one and see both predictions' rows."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from evaluation.models import EvaluationRun, GoldenExample
from registry.models import ModelVersion, PromptTemplate
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

SHOTS = Path("/work/shots/compare")


@pytest.fixture
def ml_lead(make_user: Callable[..., User]) -> User:
    # Role groups come from a data migration that the flush after a transactional
    # test removes; these tests need an author, not the role.
    return make_user("lee", is_staff=True)


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    user = make_user("viv", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_evaluationrun"))
    return user


@pytest.fixture
def pair(
    target_db: TargetDatabase,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
) -> tuple[list[GoldenExample], EvaluationRun, EvaluationRun]:
    goldens = add_goldens(target_db)
    snapshot = snapshot_of(goldens)
    a = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    b = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    # An older run on another snapshot: never offered beside these two.
    finished_run(a, model_v1, snapshot_of(goldens[:2], "older"))
    return (
        goldens,
        finished_run(a, model_v1, snapshot),
        finished_run(b, model_v1, snapshot),
    )


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pick_two_runs_filter_changed_items_and_open_one(
    browser: Any,
    live_server: Any,
    viewer: User,
    template: PromptTemplate,
    pair: tuple[list[GoldenExample], EvaluationRun, EvaluationRun],
) -> None:
    goldens, a, b = pair
    client = Client()
    client.force_login(viewer)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/evaluation/compare/")
        page.select_option("#template-picker select[name=template]", template.name)
        page.click("#template-picker button[type=submit]")
        pickers = page.locator("form.snapshot-picker")
        assert pickers.count() == 1  # the lone run on "older" is not offered
        picker = pickers.first
        assert picker.get_attribute("data-snapshot") == str(a.snapshot_id)
        picker.locator("select[name=a]").select_option(str(a.pk))
        picker.locator("select[name=b]").select_option(str(b.pk))
        shot(page, "1-picker")
        picker.locator("button[type=submit]").click()

        page.wait_for_selector("#summary")
        ex = page.locator('#summary tr[data-metric="execution_accuracy"]')
        assert "66.7%" in ex.inner_text() and "83.3%" in ex.inner_text()
        assert ex.locator("td.delta").inner_text() == "+16.7"
        assert page.locator("#item-table tr.item").count() == 6
        shot(page, "2-summary")

        page.select_option("select[name=change]", "changed")
        page.click("#apply-filters")
        page.wait_for_selector("#item-table")
        changes = page.locator("#item-table tr.item").evaluate_all(
            "rows => rows.map(r => r.dataset.change)"
        )
        assert sorted(changes) == ["broken", "fixed", "fixed"]
        shot(page, "3-changed-items")

        page.click(f'tr.item[data-item="{goldens[1].pk}"] a.open-item')
        page.wait_for_selector("#rows-b table")
        assert page.locator("#change").inner_text() == "broken"
        assert page.locator("#rows-gold tbody tr").count() == 5
        assert page.locator("#rows-a tbody tr").count() == 5
        assert page.locator("#rows-b tbody tr").count() == 5
        assert "6 rows" in page.locator("#rows-a h3").inner_text()
        assert page.locator("#diff ins").count() >= 1
        shot(page, "4-item-rows")
        page.click("#back-to-pair")
        page.wait_for_selector("#item-table")
        assert page.locator("select[name=change]").input_value() == "changed"
    finally:
        context.close()
