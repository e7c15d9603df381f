"""A New Business pipeline with exit criteria, and an account per rep, built through services."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import Account, DealType, ForecastCategory, Pipeline
from crm.services import deal_create, stage_save
from tests.conftest import fresh

STAGES = [
    # name, probability, category, required fields, won, lost
    ("Prospecting", 10, ForecastCategory.PIPELINE, [], False, False),
    ("Discovery", 20, ForecastCategory.PIPELINE, ["amount", "close_date"], False, False),
    (
        "Proposal",
        50,
        ForecastCategory.BEST_CASE,
        ["amount", "close_date", "next_step"],
        False,
        False,
    ),
    (
        "Negotiation",
        80,
        ForecastCategory.COMMIT,
        ["amount", "close_date", "next_step"],
        False,
        False,
    ),
    ("Closed Won", 100, ForecastCategory.CLOSED, ["amount", "close_date"], True, False),
    ("Closed Lost", 0, ForecastCategory.OMITTED, ["lost_reason"], False, True),
]


@pytest.fixture
def pipeline(org):
    pipeline = Pipeline.objects.create(name="New Business", kind=DealType.NEW)
    for position, (name, probability, category, required, won, lost) in enumerate(STAGES):
        stage_save(
            acting_user=org.ops,
            pipeline=pipeline,
            name=name,
            probability=Decimal(probability),
            forecast_category=category,
            required_fields=required,
            position=position,
            is_won=won,
            is_lost=lost,
        )
    return pipeline


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


@pytest.fixture
def accounts(org):
    return {
        rep: Account.objects.create(name=f"{rep.username} Corp", owner=rep, employees=250)
        for rep in (org.rep_east, org.rep_east_2, org.rep_west, org.rep_london)
    }


@pytest.fixture
def deal(org, pipeline, accounts):
    """A Prospecting deal owned by rep_east, with no amount or close date yet."""
    return deal_create(
        acting_user=fresh(org.rep_east), account=accounts[org.rep_east], name="Acme robots"
    )


FILLED = {"amount": Decimal("48000.00"), "close_date": dt.date(2026, 12, 15)}
