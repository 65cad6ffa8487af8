"""The review workspace in the admin: ranked list, filters, the item page and its
actions (through the review services, refusals shown as messages)."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evaluation.models import GoldenExample
from feedback import audits, services, workspace
from feedback.models import ReviewItem

pytestmark = pytest.mark.django_db
LIST = "/admin/feedback/reviewitem/"
OLDER = "SELECT count(*) FROM singer WHERE age > 40"


def page_of(item: ReviewItem) -> str:
    return reverse("admin:feedback_reviewitem_change", args=[item.pk])


def listed(client: Client, query: str = "") -> list[int]:
    response = client.get(f"{LIST}{query}")
    assert response.status_code == 200
    return [item.pk for item in response.context["cl"].result_list]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def act(client: Client, item: ReviewItem, action: str, reason: str = "") -> Any:
    return client.post(page_of(item), {"action": action, "reason": reason}, follow=True)


def test_list_puts_pending_first_then_ranks_by_impact(
    correct: Callable, senior: User, client: Client
) -> None:
    busy_a = correct(task_type="busy", question="Busy A?")
    busy_b = correct(task_type="busy", question="Busy B?")
    quiet = correct(task_type="quiet", question="Quiet?")
    services.claim_review_item(item=busy_a, acting_user=senior)
    client.force_login(senior)
    # busy: 2 interactions, both corrected; quiet: 1. Claimed work comes after.
    assert listed(client) == [busy_b.pk, quiet.pk, busy_a.pk]
    ranked = list(workspace.list_workspace_queue())
    assert ranked[0].impact == pytest.approx(2 * ranked[1].impact)


def test_list_shows_question_sql_result_segment_and_explained_impact(
    correct: Callable, senior: User, client: Client
) -> None:
    correct(question="Singers over 30?", tenant_id="globex")
    client.force_login(senior)
    html = client.get(LIST).content.decode()
    assert "Singers over 30?" in html
    assert "SELECT count(*) FROM singer WHERE age &gt; 30" in html
    assert "1 row(s)" in html
    assert "adhoc" in html and "globex" in html
    assert "1 interactions x 100% negative x weight 0.80" in html
    assert "1 x 100% x 0.80" in html
    assert "Pending<br><small></small>" in html


def test_list_filters_by_template_segment_tenant_and_state(
    correct: Callable, senior: User, client: Client
) -> None:
    acme = correct(question="A?")
    globex = correct(question="G?", tenant_id="globex", task_type="monthly")
    services.claim_review_item(item=globex, acting_user=senior)
    client.force_login(senior)
    assert listed(client, "?tenant=globex") == [globex.pk]
    assert listed(client, "?tenant=acme") == [acme.pk]
    assert listed(client, f"?segment={acme.template_id}:monthly") == [globex.pk]
    assert listed(client, f"?segment={acme.template_id}:adhoc") == [acme.pk]
    assert listed(client, "?segment=nonsense") == []
    assert listed(client, "?state=claimed") == [globex.pk]
    assert set(listed(client, f"?template__id__exact={acme.template_id}")) == {
        acme.pk,
        globex.pk,
    }


def test_item_page_shows_question_diff_both_results_feedback_and_outcome(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct(question="Singers over 30?", outcome="success")
    client.force_login(senior)
    response = client.get(page_of(item))
    assert response.status_code == 200
    ws = response.context["ws"]
    assert (ws.generated.rows, ws.generated.row_count) == ([(6,)], 1)
    assert (ws.corrected.rows, ws.corrected.row_count) == ([(4,)], 1)
    html = response.content.decode()
    assert "Singers over 30?" in html
    assert "<ins> WHERE age &gt; 30</ins>" in html
    assert 'id="result-generated"' in html and 'id="result-corrected"' in html
    assert "Corrected SQL" in html  # the interaction's feedback
    assert "Outcome: <strong>Success</strong>" in html
    assert ws.same is False and "Results differ:</strong>" in html
    assert 'id="claim-button"' in html and 'id="approve-button"' not in html


def test_item_page_shows_the_first_ten_rows_and_the_row_count(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct(sql="SELECT a.name, b.name FROM singer a, singer b ORDER BY 1, 2")
    client.force_login(senior)
    response = client.get(page_of(item))
    corrected = response.context["ws"].corrected
    assert corrected.row_count == 36
    assert len(corrected.rows) == 10
    assert corrected.rows[0] == ("Joe Sharp", "Joe Sharp")
    assert "36 rows, first 10 shown" in response.content.decode()


def test_failing_sql_shows_the_error_instead_of_raising(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct(sql="SELECT no_such_column FROM singer")
    client.force_login(senior)
    response = client.get(page_of(item))
    assert response.status_code == 200
    error = response.context["ws"].corrected.error
    assert "no_such_column" in error
    assert 'class="result-error errornote"' in response.content.decode()
    other = correct(generated_sql="DELETE FROM singer", question="Del?")
    refused = client.get(page_of(other))
    assert refused.context["ws"].generated.error.startswith("Refused")


def test_item_page_escapes_what_people_wrote(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct(
        question="<script>alert(1)</script>?",
        generated_sql="SELECT '<b>x</b>' FROM singer",
    )
    client.force_login(senior)
    html = client.get(page_of(item)).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;?" in html
    assert "<b>x</b>" not in html


def test_claim_then_approve_through_the_page(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct()
    client.force_login(senior)
    claimed = act(client, item, "claim")
    assert claimed.status_code == 200
    assert f"#{item.pk}: claim recorded; now claimed." in messages_of(claimed)
    assert 'id="approve-button"' in claimed.content.decode()
    approved = act(client, item, "approve")
    assert f"#{item.pk}: approve recorded; now approved." in messages_of(approved)
    item.refresh_from_db()
    assert item.state == "approved"
    assert GoldenExample.objects.get().approved_by == senior


def test_release_and_reject_with_and_without_a_reason(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct()
    client.force_login(senior)
    act(client, item, "claim")
    act(client, item, "release")
    assert ReviewItem.objects.get().state == "pending"
    act(client, item, "claim")
    missing = act(client, item, "reject", reason="  ")
    assert "Refused (reason): A reason is required." in messages_of(missing)
    assert ReviewItem.objects.get().state == "claimed"
    act(client, item, "reject", reason="wrong join")
    item.refresh_from_db()
    assert (item.state, item.decision_reason) == ("rejected", "wrong join")


def test_four_eyes_refusal_is_a_message_not_an_error(
    correct: Callable, senior: User, senior2: User, client: Client
) -> None:
    item = correct()
    client.force_login(senior)
    act(client, item, "claim")
    act(client, item, "escalate", reason="second opinion")
    assert ReviewItem.objects.get().state == "adjudication"
    refused = act(client, item, "approve")
    assert refused.status_code == 200
    assert any(
        m.startswith("Refused: Adjudication needs another senior analyst")
        for m in messages_of(refused)
    )
    assert ReviewItem.objects.get().state == "adjudication"
    client.force_login(senior2)
    act(client, item, "approve")
    assert ReviewItem.objects.get().decided_by == senior2


def test_unknown_action_is_a_message(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct()
    client.force_login(senior)
    response = act(client, item, "delete")
    assert "Unknown action: 'delete'." in messages_of(response)


def test_viewers_without_the_review_permission_read_but_cannot_act(
    correct: Callable, make_user: Callable, client: Client
) -> None:
    item = correct()
    client.force_login(make_user("audrey", "auditor", is_staff=True))
    page = client.get(page_of(item))
    assert page.status_code == 200
    assert 'id="actions"' not in page.content.decode()
    assert client.post(page_of(item), {"action": "claim"}).status_code == 403
    assert ReviewItem.objects.get().state == "pending"


def test_missing_item_is_a_404(senior: User, client: Client) -> None:
    client.force_login(senior)
    assert client.get(f"{LIST}999999/change/").status_code == 404
    assert client.get(f"{LIST}abc/change/").status_code == 404


def test_other_corrections_and_adjudication_side_by_side(
    correct: Callable, senior: User, senior2: User, client: Client
) -> None:
    first = correct(question="Same question?")
    second = correct(sql=OLDER, question="Same question?")
    first.refresh_from_db()
    assert first.disagreement
    client.force_login(senior)
    page = client.get(page_of(first))
    assert [o.item.pk for o in page.context["ws"].others] == [second.pk]
    assert OLDER.replace(">", "&gt;") in page.content.decode()
    act(client, first, "claim")
    act(client, first, "escalate", reason="results differ")
    client.force_login(senior2)
    page = client.get(page_of(first))
    rival = page.context["ws"].adjudication
    assert rival.item.pk == second.pk
    assert rival.preview.rows == [(3,)]
    html = page.content.decode()
    assert 'id="adjudication-this"' in html and 'id="adjudication-other"' in html
    assert "results differ" in html


def test_neighbours_follow_the_pending_ranking(
    correct: Callable, senior: User, client: Client
) -> None:
    top_a = correct(task_type="busy", question="A?")
    top_b = correct(task_type="busy", question="B?")
    low = correct(task_type="quiet", question="C?")
    client.force_login(senior)
    ws = client.get(page_of(top_b)).context["ws"]
    assert (ws.previous_pending, ws.next_pending) == (top_a.pk, low.pk)
    services.claim_review_item(item=low, acting_user=senior)
    ws = client.get(page_of(low)).context["ws"]
    assert (ws.previous_pending, ws.next_pending) == (None, top_a.pk)


def test_sql_diff_rebuilds_both_sides() -> None:
    before = "SELECT name FROM singer"
    after = "SELECT name, age FROM singer WHERE age > 3"
    pieces = workspace.sql_diff(before, after)
    assert "".join(t for op, t in pieces if op != "insert") == before
    assert "".join(t for op, t in pieces if op != "delete") == after
    assert ("insert", ", age") in pieces


def test_equal_results_in_another_order_compare_as_the_same(
    correct: Callable, senior: User, client: Client
) -> None:
    item = correct(
        generated_sql="SELECT name FROM singer ORDER BY name",
        sql="SELECT name FROM singer ORDER BY name DESC",
    )
    client.force_login(senior)
    response = client.get(page_of(item))
    assert response.context["ws"].same is True
    assert "Same result" in response.content.decode()


def test_a_result_past_the_row_cap_is_counted_as_more_and_not_compared(
    correct: Callable, senior: User, client: Client, settings: Any
) -> None:
    item = correct(sql="SELECT a.name FROM singer a, singer b")
    settings.SANDBOX_MAX_ROWS = 20
    client.force_login(senior)
    response = client.get(page_of(item))
    ws = response.context["ws"]
    assert (ws.corrected.truncated, ws.corrected.row_count) == (True, 20)
    assert ws.same is None
    assert "more than 20 rows" in response.content.decode()


def test_blind_verdicts_through_the_page_stay_hidden_until_both_are_in(
    correct: Callable, senior: User, senior2: User, client: Client, settings: Any
) -> None:
    settings.DOUBLE_REVIEW_SHARE = 1.0
    item = correct()
    client.force_login(senior)
    page = client.get(page_of(item)).content.decode()
    assert 'id="verdict-approve-button"' in page and 'id="claim-button"' not in page
    act(client, item, "verdict_approve")
    client.force_login(senior2)
    page = client.get(page_of(item)).content.decode()
    assert 'id="verdicts"' not in page
    missing = act(client, item, "verdict_reject")
    assert "Refused (reason): A reason is required." in messages_of(missing)
    act(client, item, "verdict_reject", reason="wrong filter")
    page = client.get(page_of(item)).content.decode()
    assert ReviewItem.objects.get().state == "adjudication"
    assert "approve by sam" in page and "reject by sue: wrong filter" in page
    assert "The blind reviews disagree." in page


def test_list_queries_do_not_grow_with_the_items(
    correct: Callable, senior: User, client: Client
) -> None:
    correct()
    client.force_login(senior)
    client.get(LIST)  # loads the user's permission cache

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    few = count()
    for n in range(5):
        correct(question=f"Question {n}?")
    assert count() == few


def test_an_audit_item_shows_the_answer_alone_and_is_approved_as_right(
    interaction_event: Callable,
    ingest: Callable,
    senior: User,
    client: Client,
) -> None:
    ingest(interaction_event(question="All singers?"))
    now = timezone.now()
    audits.sample_audit_items(
        start=now - timedelta(hours=1), end=now + timedelta(minutes=1), share=1.0
    )
    item = ReviewItem.objects.get(kind="audit")
    client.force_login(senior)
    response = client.get(page_of(item))
    ws = response.context["ws"]
    assert (ws.generated.rows, ws.corrected, ws.diff) == ([(6,)], None, [])
    html = response.content.decode()
    assert 'id="result-generated"' in html and 'id="result-corrected"' not in html
    act(client, item, "claim")
    approved = act(client, item, "approve")
    assert f"#{item.pk}: approve recorded; now approved." in messages_of(approved)
