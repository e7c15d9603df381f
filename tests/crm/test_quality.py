"""The data-quality page: each check finds exactly the deals that fail it, in scope."""

import datetime as dt

from django.utils import timezone

from crm import quality
from crm.models import Account, Deal
from crm.services import activity_log, deal_create, deal_update
from tests.conftest import fresh
from tests.crm.conftest import FILLED


def keys(check, user):
    return sorted(d.name for d in quality.deals_failing(check, user=user))


def test_each_check_finds_the_deals_that_fail_it(org, pipeline, accounts):
    rep = fresh(org.rep_east)
    account = accounts[org.rep_east]
    late = deal_create(acting_user=rep, account=account, name="Late", **FILLED, next_step="Call")
    deal_update(deal=late, acting_user=rep, expected_version=1, close_date=dt.date(2020, 1, 1))
    fine = deal_create(acting_user=rep, account=account, name="Fine", next_step="Call")
    activity_log(acting_user=rep, kind="call", subject="Hello", deal=fine)
    stale = deal_create(acting_user=rep, account=account, name="Stale", next_step="Call")
    old = timezone.now() - dt.timedelta(days=40)
    Deal.objects.filter(pk=stale.pk).update(created_at=old, stage_entered_at=old)
    assert keys("past_close_date", rep) == ["Late"]
    assert keys("no_next_step", rep) == []
    assert keys("no_recent_activity", rep) == ["Stale"]
    assert keys("rotting", rep) == []  # Prospecting has no idle limit in the fixture
    first = pipeline.stages.order_by("position").first()
    first.rot_days = 30
    first.save()
    assert keys("rotting", rep) == ["Stale"]
    assert keys("past_close_date", fresh(org.rep_west)) == []  # others' deals stay out of scope


def test_duplicate_accounts_by_name_and_domain(org, accounts):
    Account.objects.create(name="Acme, Inc", owner=org.rep_east, domain="acme.example")
    Account.objects.create(name="acme inc", owner=org.rep_west, domain="acme-corp.example")
    Account.objects.create(name="Other", owner=org.rep_west, domain="acme.example")
    groups = quality.likely_duplicate_accounts(user=fresh(org.ops))
    reasons = sorted((g["reason"], sorted(a.name for a in g["accounts"])) for g in groups)
    assert reasons == [
        ("same domain acme.example", ["Acme, Inc", "Other"]),
        ("same name", ["Acme, Inc", "acme inc"]),
    ]


def test_page_for_ops_only(client, org, pipeline):
    client.force_login(org.rep_east)
    assert client.get("/crm/data-quality/").status_code == 403
    client.force_login(org.ops)
    page = client.get("/crm/data-quality/").content.decode()
    assert "Open deals past their close date" in page
