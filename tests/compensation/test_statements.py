"""Rep statements: a statement shows only once its run is approved, only to its person, their
managers up the tree and sales ops / finance; its total is the exact sum of its lines (and of the
XLSX); each tiered component has its payout curve with the person's point; a line's trace page
words the formula, tiers, credits and the deals behind a correction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from compensation import runs
from compensation import statements as selectors
from compensation.models import CommissionRun, LineKind, PayoutLine
from salesops.errors import NotFound
from tests.compensation.comp_setup import (
    D,
    approve,
    assign,
    bookings,
    calculate,
    change,
    lines,
    plan,
    won,
)
from tests.conftest import fresh
from tests.crm import conftest as crm_fixtures

Q1 = dt.date(2027, 2, 10)
Q2 = dt.date(2027, 5, 10)
SPIF = {"key": "spif", "name": "Deal SPIF", "kind": "bonus", "per_deal": "250.55"}


@dataclass
class Quarter:
    """Q1 2027 calculated (not approved): rep_east sold 120,000 (8,900.00 commission, 250.55
    SPIF, a 33.33 manual adjustment), rep_east_2 sold 60,000 (3,300.00 + 250.55)."""

    run: CommissionRun
    east: PayoutLine  # rep_east's commission line
    east_2: PayoutLine  # rep_east_2's commission line
    deal: object


def quarter(org, pipeline) -> Quarter:
    """Q1 calculated as described on ``Quarter``, through the services."""
    comp_plan = plan(org, bookings(), SPIF)
    for rep in (org.rep_east, org.rep_east_2, org.rep_west):
        assign(comp_plan, rep)
    deal = won(org, pipeline, org.rep_east, "120000", Q1, name="Acme platform")
    won(org, pipeline, org.rep_east_2, "60000", Q1, name="Globex renewal")
    run = runs.run_create(period_key="2027-Q1", acting_user=org.ops)
    runs.adjustment_add(
        run=run, user=org.rep_east, amount=D("33.33"), reason="Missed SPIF", acting_user=org.ops
    )
    run = calculate(org, "2027-Q1")
    commission = LineKind.COMMISSION
    return Quarter(
        run=run,
        east=lines(run, org.rep_east, kind=commission)[0],
        east_2=lines(run, org.rep_east_2, kind=commission)[0],
        deal=deal,
    )


@pytest.fixture
def q1(org, pipeline) -> Quarter:
    return quarter(org, pipeline)


@pytest.fixture
def settled(org, q1) -> Quarter:
    """The same quarter, approved by finance."""
    q1.run = approve(org, q1.run)
    return q1


def login(client, user):
    client.force_login(fresh(user))
    return client


def page(response) -> str:
    return response.content.decode()


def statement_urls(run: CommissionRun, user, line: PayoutLine) -> list[str]:
    """Every page that shows (part of) ``user``'s statement of ``run``."""
    return [
        reverse("compensation:statement_for", args=[run.pk, user.pk]),
        reverse("compensation:statement_print", args=[run.pk, user.pk]),
        reverse("compensation:statement_xlsx", args=[run.pk, user.pk]),
        reverse("compensation:line_trace", args=[line.pk]),
    ]


def figure(html: str, chart_id: str) -> dict:
    script = re.search(
        rf'<script id="{chart_id}" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(script.group(1))


# --- Who sees what ---------------------------------------------------------------------------------


def test_a_statement_shows_only_once_the_run_is_approved(client, org, q1):
    login(client, org.rep_east)
    own = reverse("compensation:statement", args=[q1.run.pk])
    for url in [own, *statement_urls(q1.run, org.rep_east, q1.east)]:
        assert client.get(url).status_code == 404, url
    assert q1.run.label not in page(client.get(reverse("compensation:my_commissions")))
    # Managers wait for approval too; sales ops and finance see the run as it is calculated.
    login(client, org.manager_east)
    assert client.get(statement_urls(q1.run, org.rep_east, q1.east)[0]).status_code == 404
    for user in (org.ops, org.finance, org.admin):
        login(client, user)
        for url in statement_urls(q1.run, org.rep_east, q1.east):
            assert client.get(url).status_code == 200, (user, url)
        assert "Not final" in page(client.get(statement_urls(q1.run, org.rep_east, q1.east)[0]))
    approve(org, q1.run)
    login(client, org.rep_east)
    for url in [own, *statement_urls(q1.run, org.rep_east, q1.east)]:
        assert client.get(url).status_code == 200, url
    assert "Not final" not in page(client.get(own))


def test_a_rep_cannot_read_another_reps_statement_or_line(client, org, settled):
    login(client, org.rep_east)
    for url in statement_urls(settled.run, org.rep_east_2, settled.east_2):
        assert client.get(url).status_code == 404, url
    dispute = reverse("compensation:dispute_open", args=[settled.east_2.pk])
    assert client.post(dispute, {"message": "Mine?"}).status_code == 404
    with pytest.raises(NotFound):
        selectors.statement(org.rep_east_2, settled.run, fresh(org.rep_east))
    with pytest.raises(NotFound):
        selectors.line_trace(settled.east_2, fresh(org.rep_east))
    # A run that does not exist looks the same as one that is not yours.
    missing = reverse("compensation:statement", args=[settled.run.pk + 1000])
    assert client.get(missing).status_code == 404


def test_managers_read_their_subtree_and_no_one_else(client, org, settled):
    for manager in (org.manager_east, org.vp_americas):
        login(client, manager)
        for url in statement_urls(settled.run, org.rep_east, settled.east):
            assert client.get(url).status_code == 200, (manager, url)
    for outsider in (org.manager_west, org.manager_london, org.vp_emea, org.rep_west):
        login(client, outsider)
        for url in statement_urls(settled.run, org.rep_east, settled.east):
            assert client.get(url).status_code == 404, (outsider, url)


@pytest.mark.parametrize("url", ["/comp/statements/", "/comp/disputes/", "/comp/lines/1/"])
def test_anonymous_is_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_nav_has_my_commissions_for_sellers_and_disputes_for_ops(client, org):
    mine, disputes = reverse("compensation:my_commissions"), reverse("compensation:dispute_list")
    for user in (org.rep_east, org.manager_east):
        html = page(login(client, user).get("/"))
        assert f'<a href="{mine}"' in html and f'<a href="{disputes}"' not in html, user
    html = page(login(client, org.ops).get("/"))
    assert f'<a href="{disputes}"' in html


# --- The statement -------------------------------------------------------------------------------


def test_the_statement_groups_lines_and_totals_them_exactly(org, settled):
    statement = selectors.statement(org.rep_east, settled.run, fresh(org.rep_east))
    assert [(g.key, g.name, g.total) for g in statement.components] == [
        ("bookings", "Bookings commission", D("8900.00")),
        ("spif", "Deal SPIF", D("250.55")),
        ("manual", "Manual adjustments", D("33.33")),
    ]
    bookings_group = statement.components[0]
    assert (bookings_group.attainment, bookings_group.tier) == (D("120"), "Accelerator")
    assert statement.total == sum(line.amount for line in statement.lines) == D("9183.88")
    assert statement.total == sum(g.total for g in statement.components)
    assert {line.user_id for line in statement.lines} == {org.rep_east.pk}


def test_the_statement_page_shows_components_lines_and_the_payout_curve(
    client, org, settled, django_assert_max_num_queries
):
    login(client, org.rep_east)
    with django_assert_max_num_queries(13):  # as many with one line or fifty
        response = client.get(reverse("compensation:statement", args=[settled.run.pk]))
    html = page(response)
    assert 'data-statement-total="9183.88"' in html
    assert 'data-component="bookings"' in html and "Accelerator" in html
    for line in lines(settled.run, org.rep_east):
        assert reverse("compensation:line_trace", args=[line.pk]) in html
    assert 'data-chart="curve-bookings"' in html and "plotly/plotly.min.js" in html
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', html))
    chart = figure(html, "curve-bookings")
    curve, marker = chart["data"]
    assert curve["mode"] == "lines" and len(curve["x"]) == 41
    # The rep's point: 120 % attainment, the period's exact payout 8,900.
    assert (marker["x"], marker["y"], marker["text"]) == ([120.0], [8900.0], ["You"])
    assert settled.east.exact_amount == D("8900")


def test_the_payout_curve_follows_the_tiers(org, settled):
    [curve] = selectors.statement(org.rep_east, settled.run, fresh(org.ops)).curves
    points = dict(curve.points)
    # 100,000 quota: 50 % pays 2,500; 100 % pays 6,500; 150 % adds 50,000 × 12 %.
    assert (points[D(50)], points[D(100)], points[D(150)]) == (D(2500), D(6500), D(12500))
    assert (curve.attainment, curve.payout, curve.quota) == (D(120), D(8900), D("100000.00"))


def test_statement_xlsx_total_equals_the_statement_and_its_lines(client, org, settled):
    login(client, org.rep_east)
    response = client.get(
        reverse("compensation:statement_xlsx", args=[settled.run.pk, org.rep_east.pk])
    )
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="statement-2027-Q01-rep_east.xlsx"' in response["Content-Disposition"]
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows.index(next(r for r in rows if r and r[0] == "Line"))
    body = [r for r in rows[header + 1 :] if r[0] != "Total"]
    total_row = next(r for r in rows if r and r[0] == "Total")
    amounts = [Decimal(str(r[11])) for r in body]
    assert all(isinstance(r[11], (int, float)) for r in body)  # numbers, not text
    assert sorted(amounts) == sorted(line.amount for line in lines(settled.run, org.rep_east))
    assert sum(amounts) == Decimal(str(total_row[11])) == D("9183.88")


def test_the_print_page_is_clean_and_prints(client, org, settled):
    login(client, org.rep_east)
    html = page(
        client.get(reverse("compensation:statement_print", args=[settled.run.pk, org.rep_east.pk]))
    )
    assert "@media print" in html and "window.print()" in html
    assert 'class="nav"' not in html and 'data-statement-total="9183.88"' in html
    assert "Bookings commission" in html and "Deal SPIF" in html


def test_my_commissions_lists_settled_periods_and_the_year_to_date(client, org, pipeline, settled):
    won(org, pipeline, org.rep_east, "10000", Q2)
    q2 = calculate(org, "2027-Q2")  # calculated, not approved: not shown yet
    login(client, org.rep_east)
    html = page(client.get(reverse("compensation:my_commissions")))
    assert f'<tr data-run="{settled.run.pk}">' in html and f'data-run="{q2.pk}"' not in html
    assert "9,183.88" in html
    approve(org, q2)
    ytd = selectors.year_to_date(org.rep_east, 2027, fresh(org.rep_east))
    # Q2: 10,000 × 5 % = 500 commission and one 250.55 SPIF.
    assert [(p.run.label, p.total) for p in ytd.by_run] == [
        (settled.run.label, D("9183.88")),
        (q2.label, D("750.55")),
    ]
    assert [(c.key, c.total) for c in ytd.by_component] == [
        ("bookings", D("9400.00")),
        ("spif", D("501.10")),
        ("manual", D("33.33")),
    ]
    assert ytd.total == D("9934.43") == sum(p.total for p in ytd.by_run)
    latest = {row.key: row for row in ytd.attainment}
    assert latest["bookings"].attainment == D("10") and latest["bookings"].run.pk == q2.pk
    html = page(client.get(reverse("compensation:my_commissions")))
    assert "data-ytd-total>USD 9,934.43" in html


def test_managers_list_their_peoples_statements_of_a_run(client, org, settled):
    login(client, org.manager_east)
    html = page(client.get(reverse("compensation:my_commissions"), {"run": settled.run.pk}))
    for rep in (org.rep_east, org.rep_east_2):
        url = reverse("compensation:statement_for", args=[settled.run.pk, rep.pk])
        assert f'data-payee="{rep.pk}"' in html and url in html
    assert f'data-payee="{org.rep_west.pk}"' not in html
    html = page(
        client.get(reverse("compensation:statement_for", args=[settled.run.pk, org.rep_east.pk]))
    )
    assert "statement of" in html and "where" in html.lower()


# --- A line's trace ------------------------------------------------------------------------------


def test_the_trace_page_words_the_formula_tiers_and_credits(
    client, org, settled, django_assert_max_num_queries
):
    login(client, org.rep_east)
    with django_assert_max_num_queries(12):
        html = page(client.get(reverse("compensation:line_trace", args=[settled.east.pk])))
    assert "8,900.00 payout for FY2027 Q1 = 8,900.00" in html
    assert 'data-testid="slices"' in html and "Accelerator" in html and ">12 %<" in html
    assert "ROUND_HALF_UP" in html and "nothing yet for this period" in html
    deal_url = reverse("crm:deal_detail", args=[settled.deal.pk])
    assert f'<a href="{deal_url}">Acme platform</a>' in html
    assert 'data-testid="credits"' in html and "Owner" in html and "100.00 %" in html
    assert 'aria-label="Open a dispute"' in html  # the line's own rep may dispute it
    trace = selectors.line_trace(settled.east, fresh(org.rep_east))
    assert [(c.deal_id, c.credit_type, c.percent, c.measure) for c in trace.credits] == [
        (settled.deal.pk, "owner", D("100.00"), D("120000.0000"))
    ]
    assert [s.pay for s in trace.slices] == [D(2500), D(4000), D(2400)]
    login(client, org.manager_east)
    html = page(client.get(reverse("compensation:line_trace", args=[settled.east.pk])))
    assert 'aria-label="Open a dispute"' not in html and "Only" in html


def test_a_correction_names_the_deals_behind_it_with_links(client, org, pipeline, settled):
    change(org, settled.deal, stage=crm_fixtures.stage(pipeline, "Closed Lost"), lost_reason="Gone")
    q2 = approve(org, calculate(org, "2027-Q2"))
    [adjustment] = lines(q2, org.rep_east, kind=LineKind.ADJUSTMENT, component_key="bookings")
    assert adjustment.amount == D("-8900.00")
    login(client, org.rep_east)
    html = page(client.get(reverse("compensation:line_trace", args=[adjustment.pk])))
    assert 'data-testid="causes"' in html and "the deal is now in Closed Lost" in html
    assert f'href="{reverse("crm:deal_detail", args=[settled.deal.pk])}"' in html
    assert "8,900.00 already paid" in html or "8,900.00 by earlier approved runs" in html
