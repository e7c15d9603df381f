"""The generator's territory plan and quotas: a four-level tree over every account, applied."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Sum

from crm.models import Account
from salesops.org.generate import SCALES, generate_org
from salesops.org.models import RepProfile
from territories.models import (
    AccountTerritory,
    AssignmentRule,
    MemberRole,
    PlanStatus,
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    Territory,
    TerritoryMember,
)

AS_OF = dt.date(2026, 6, 30)
STEPS = [
    "crm.generate.generate_crm",
    "territories.generate.generate_territories",
    "territories.generate.generate_quotas",
]


def depth(territory: Territory, parents: dict[int, int | None]) -> int:
    level, node = 0, territory.pk
    while parents[node] is not None:
        node, level = parents[node], level + 1
    return level


def test_the_demo_plan_covers_every_account_and_its_owners_own_them(db):
    org = generate_org(scale=SCALES["demo"], seed=5, as_of=AS_OF, steps=STEPS)
    live = Territory.objects.filter(plan__status=PlanStatus.LIVE)
    parents = dict(live.values_list("pk", "parent_id"))
    assert max(depth(t, parents) for t in live) == 3  # region › country › area › leaf
    assert org.rows["territories"] == live.count()
    assert AssignmentRule.objects.filter(plan__status=PlanStatus.LIVE, catch_all=True).count() == 1
    # every account sits in a live territory, with one open span from the roll-out day
    assert not Account.objects.filter(territory_id__isnull=True).exists()
    assert AccountTerritory.objects.filter(valid_to__isnull=True, valid_from=AS_OF).count() == (
        Account.objects.count()
    )
    # an account in a territory with owners belongs to one of them
    owners: dict[int, set[int]] = {}
    for territory_id, user_id in TerritoryMember.objects.filter(
        role=MemberRole.OWNER, territory__plan__status=PlanStatus.LIVE
    ).values_list("territory_id", "user_id"):
        owners.setdefault(territory_id, set()).add(user_id)
    for territory_id, owner_id in Account.objects.values_list("territory_id", "owner_id"):
        assert territory_id not in owners or owner_id in owners[territory_id]
    # a draft scenario to play with, a copy of the live tree
    draft = Territory.objects.filter(plan__status=PlanStatus.DRAFT)
    assert set(draft.values_list("key", flat=True)) == set(live.values_list("key", flat=True))


def test_the_demo_quotas_add_up_for_three_years(db):
    generate_org(scale=SCALES["demo"], seed=5, as_of=AS_OF, steps=STEPS)
    plans = list(QuotaPlan.objects.order_by("fiscal_year"))
    active_reps = RepProfile.objects.filter(active=True, user__is_active=True).count()
    assert 30 < active_reps < 40  # the demo has a few people who left
    assert [p.status for p in plans] == [
        QuotaPlanStatus.PUBLISHED, QuotaPlanStatus.PUBLISHED, QuotaPlanStatus.DRAFT,
    ]  # fmt: skip
    for plan in plans:
        reps_year = Quota.objects.filter(plan=plan, period_kind="year", user__isnull=False)
        assert reps_year.aggregate(n=Count("id"))["n"] == active_reps
        full = reps_year.aggregate(total=Sum("full_amount"))["total"]
        assert full == plan.target  # every cent reaches a rep
        months = Quota.objects.filter(plan=plan, period_kind="month", user__isnull=False)
        assert months.aggregate(total=Sum("full_amount"))["total"] == plan.target
        assert plan.target == plan.target.quantize(Decimal("0.01"))
