"""Disputes: the line's own rep opens one on a settled line (one open at a time, with a message);
sales ops answer it, or answer and adjust pay in the next open run, which becomes a manual line
the rep sees once that run is approved; every step is audited. The pages: the trace page's
form, the ops queue (open first, by status), the detail page's answer and adjust forms.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from compensation import disputes, runs
from compensation import statements as selectors
from compensation.models import Dispute, DisputeStatus, LineKind, ManualAdjustment, RunStatus
from salesops.audit import audit_events_for
from salesops.errors import DomainError, NotAllowed
from tests.compensation.comp_setup import D, approve, calculate, lines
from tests.compensation.test_statements import Quarter, login, page, quarter
from tests.conftest import fresh


@pytest.fixture
def settled(org, pipeline) -> Quarter:
    q1 = quarter(org, pipeline)
    q1.run = approve(org, q1.run)
    return q1


def opened(org, settled: Quarter, message: str = "The Acme deal was 130,000.") -> Dispute:
    return disputes.dispute_open(
        line=settled.east, message=message, acting_user=fresh(org.rep_east)
    )


# --- Services ------------------------------------------------------------------------------------


def test_the_lines_rep_opens_a_dispute_and_it_is_audited(org, settled):
    dispute = opened(org, settled, "  The Acme deal was 130,000.  ")
    assert (dispute.status, dispute.message, dispute.raised_by) == (
        DisputeStatus.OPEN, "The Acme deal was 130,000.", org.rep_east,
    )  # fmt: skip
    [event] = audit_events_for(dispute)
    assert event.pgh_context["user"] == org.rep_east.pk
    assert event.pgh_context["reason"] == "comp_dispute_open"


def test_no_dispute_on_someone_elses_line_a_draft_line_or_without_a_message(org, pipeline):
    q1 = quarter(org, pipeline)  # calculated, not approved
    with pytest.raises(DomainError, match="lines can be disputed once the run is approved"):
        disputes.dispute_open(line=q1.east, message="Too low", acting_user=fresh(org.rep_east))
    approve(org, q1.run)
    for someone in (org.rep_east_2, org.manager_east, org.ops):
        with pytest.raises(NotAllowed, match="Only the person paid by a line can dispute it."):
            disputes.dispute_open(line=q1.east, message="Too low", acting_user=fresh(someone))
    with pytest.raises(DomainError, match="Say what looks wrong with this line.") as error:
        disputes.dispute_open(line=q1.east, message="  ", acting_user=fresh(org.rep_east))
    assert error.value.field == "message"
    disputes.dispute_open(line=q1.east, message="Too low", acting_user=fresh(org.rep_east))
    with pytest.raises(DomainError, match="already has an open dispute"):
        disputes.dispute_open(line=q1.east, message="Still low", acting_user=fresh(org.rep_east))
    assert Dispute.objects.count() == 1


def test_ops_answer_in_writing_and_only_ops(org, settled):
    dispute = opened(org, settled)
    for someone in (org.rep_east, org.manager_east, org.finance):
        with pytest.raises(NotAllowed, match="Only sales ops can answer or resolve a dispute."):
            disputes.dispute_answer(dispute=dispute, answer="No", acting_user=fresh(someone))
    with pytest.raises(DomainError, match="Write the answer the rep will read."):
        disputes.dispute_answer(dispute=dispute, answer=" ", acting_user=fresh(org.ops))
    dispute = disputes.dispute_answer(
        dispute=dispute, answer="The deal closed at 120,000.", acting_user=fresh(org.ops)
    )
    assert (dispute.status, dispute.answer, dispute.resolved_by) == (
        DisputeStatus.ANSWERED, "The deal closed at 120,000.", org.ops,
    )  # fmt: skip
    assert audit_events_for(dispute).last().pgh_context["reason"] == "comp_dispute_answer"
    with pytest.raises(DomainError, match="already answered"):
        disputes.dispute_answer(dispute=dispute, answer="Again", acting_user=fresh(org.ops))
    # Answered, the line may be disputed again.
    assert opened(org, settled, "I still disagree").status == DisputeStatus.OPEN


def test_adjusting_needs_an_open_run(org, settled):
    dispute = opened(org, settled)
    with pytest.raises(DomainError, match="^Create the next run first"):
        disputes.dispute_adjust(
            dispute=dispute, amount=D("1200.00"), answer="Agreed", acting_user=fresh(org.ops)
        )
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN and not ManualAdjustment.objects.filter(
        dispute=dispute
    )


def test_ops_adjust_into_the_next_run_and_the_rep_then_sees_a_manual_line(org, settled):
    dispute = opened(org, settled)
    q2 = runs.run_create(period_key="2027-Q2", acting_user=org.ops)
    with pytest.raises(DomainError, match="whole cents"):
        disputes.dispute_adjust(
            dispute=dispute, amount=D("1.005"), answer="Agreed", acting_user=fresh(org.ops)
        )
    dispute = disputes.dispute_adjust(
        dispute=dispute,
        amount=D("1200.00"),
        answer="Agreed: the amendment was missed.",
        acting_user=fresh(org.ops),
    )
    assert (dispute.status, dispute.resolved_by) == (DisputeStatus.ADJUSTED, org.ops)
    adjustment = ManualAdjustment.objects.get(dispute=dispute)
    assert (adjustment.run, adjustment.user, adjustment.amount) == (q2, org.rep_east, D("1200"))
    assert adjustment.reason == (
        f'Dispute #{dispute.pk} on Bookings commission FY2027 Q1 (FY2027 Q1 run): "The Acme deal '
        'was 130,000."'
    )
    reasons = [event.pgh_context.get("reason") for event in audit_events_for(dispute)]
    assert reasons == ["comp_dispute_open", "comp_dispute_adjust"]
    assert audit_events_for(adjustment).first().pgh_context["reason"] == "comp_adjustment"
    q2 = calculate(org, "2027-Q2")
    [manual] = lines(q2, org.rep_east, kind=LineKind.MANUAL)
    assert (manual.amount, manual.trace["dispute"]) == (D("1200.00"), dispute.pk)
    # Not until the run is approved does the rep see it.
    rep = fresh(org.rep_east)
    assert not selectors.lines_visible_to(rep).filter(pk=manual.pk).exists()
    q2 = approve(org, q2)
    assert q2.status == RunStatus.APPROVED
    statement = selectors.statement(org.rep_east, q2, fresh(org.rep_east))
    assert [(g.key, g.total) for g in statement.components][-1] == ("manual", D("1200.00"))


# --- Pages ---------------------------------------------------------------------------------------


def test_a_rep_opens_a_dispute_from_the_trace_page_and_reads_the_answer(client, org, settled):
    login(client, org.rep_east)
    trace = reverse("compensation:line_trace", args=[settled.east.pk])
    url = reverse("compensation:dispute_open", args=[settled.east.pk])
    html = page(client.post(url, {"message": ""}))
    assert "Say what looks wrong with this line." in html and not Dispute.objects.exists()
    response = client.post(url, {"message": "The Acme deal was 130,000."})
    assert response.status_code == 302 and response["Location"] == trace
    dispute = Dispute.objects.get()
    html = page(client.get(trace))
    assert f'data-dispute="{dispute.pk}"' in html and 'aria-label="Open a dispute"' not in html
    html = page(client.post(url, {"message": "Again"}))
    assert "already has an open dispute" in html
    disputes.dispute_answer(dispute=dispute, answer="Closed at 120,000.", acting_user=org.ops)
    statement = page(client.get(reverse("compensation:statement", args=[settled.run.pk])))
    assert "Your disputes" in statement and "Closed at 120,000." in statement
    detail = page(client.get(reverse("compensation:dispute_detail", args=[dispute.pk])))
    assert "Closed at 120,000." in detail and 'aria-label="Answer"' not in detail


def test_the_ops_queue_lists_open_disputes_first_and_filters_by_status(
    client, org, settled, django_assert_max_num_queries
):
    answered = opened(org, settled, "First")
    disputes.dispute_answer(dispute=answered, answer="Fine as is", acting_user=org.ops)
    second = disputes.dispute_open(
        line=settled.east_2, message="Second", acting_user=fresh(org.rep_east_2)
    )
    login(client, org.ops)
    with django_assert_max_num_queries(9):
        html = page(client.get(reverse("compensation:dispute_list")))
    assert html.index(f'data-dispute="{second.pk}"') < html.index(f'data-dispute="{answered.pk}"')
    assert 'data-open-count="1"' in html
    html = page(client.get(reverse("compensation:dispute_list"), {"status": "answered"}))
    assert f'data-dispute="{answered.pk}"' in html and f'data-dispute="{second.pk}"' not in html
    # A rep's list holds their own disputes only; a manager's their team's.
    html = page(login(client, org.rep_east).get(reverse("compensation:dispute_list")))
    assert f'data-dispute="{answered.pk}"' in html and f'data-dispute="{second.pk}"' not in html
    html = page(login(client, org.manager_east).get(reverse("compensation:dispute_list")))
    assert f'data-dispute="{answered.pk}"' in html and f'data-dispute="{second.pk}"' in html
    html = page(login(client, org.manager_west).get(reverse("compensation:dispute_list")))
    assert "data-dispute=" not in html


def test_ops_answer_and_adjust_on_the_dispute_page(client, org, settled):
    first = opened(org, settled)
    login(client, org.ops)
    detail = reverse("compensation:dispute_detail", args=[first.pk])
    html = page(client.get(detail))
    assert 'aria-label="Answer"' in html and "create the next run first" in html
    html = page(
        client.post(reverse("compensation:dispute_answer", args=[first.pk]), {"answer": ""})
    )
    assert "Write the answer the rep will read." in html
    response = client.post(
        reverse("compensation:dispute_answer", args=[first.pk]), {"answer": "As agreed."}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == DisputeStatus.ANSWERED
    second = opened(org, settled, "Try again")
    adjust = reverse("compensation:dispute_adjust", args=[second.pk])
    html = page(client.post(adjust, {"amount": "150.00", "answer": "Paid next run"}))
    assert "Create the next run first" in html
    q2 = runs.run_create(period_key="2027-Q2", acting_user=org.ops)
    html = page(client.get(reverse("compensation:dispute_detail", args=[second.pk])))
    assert f"goes into the {q2.label} run" in html
    response = client.post(adjust, {"amount": "150.00", "answer": "Paid next run"})
    assert response.status_code == 302
    assert ManualAdjustment.objects.get(dispute=second).amount == D("150.00")
    html = page(client.get(reverse("compensation:dispute_detail", args=[second.pk])))
    assert "data-adjustment" in html and "Adjusted" in html


def test_reps_cannot_resolve_and_others_cannot_see_a_dispute(client, org, settled):
    dispute = opened(org, settled)
    login(client, org.rep_east)
    for name in ("dispute_answer", "dispute_adjust"):
        url = reverse(f"compensation:{name}", args=[dispute.pk])
        assert client.post(url, {"answer": "Yes", "amount": "10"}).status_code == 403, name
    for outsider in (org.rep_east_2, org.manager_west):
        login(client, outsider)
        for name in ("dispute_detail", "dispute_answer", "dispute_adjust"):
            url = reverse(f"compensation:{name}", args=[dispute.pk])
            method = client.get if name == "dispute_detail" else client.post
            assert method(url).status_code == 404, (outsider, name)
    login(client, org.manager_east)
    assert client.get(reverse("compensation:dispute_detail", args=[dispute.pk])).status_code == 200
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
