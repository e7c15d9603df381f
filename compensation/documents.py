"""The plan document: a commission plan as data (JSON or YAML), validated by pydantic.

A plan version stores this document; the engine reads only the validated model, so whatever
can be written in the builder can be exported, reviewed in a pull request, and imported back.
Attainment figures (tier floors, thresholds, caps) are percentages of quota; a ``rate`` is a
multiplier of the measure (0.08 = 8 % of bookings; 500 = 500 per new logo or unit).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from salesops.errors import DomainError

SCHEMA_VERSION = 1

Percent = Annotated[Decimal, Field(ge=0, le=10000)]
Money = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]
Rate = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=8)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,59}$")]

Measure = Literal["bookings", "acv", "gross_margin", "units", "new_logos"]
MEASURE_LABELS = {
    "bookings": "Credited bookings",
    "acv": "Annual contract value",
    "gross_margin": "Gross margin",
    "units": "Units",
    "new_logos": "New logos",
}
MONEY_MEASURES = frozenset({"bookings", "acv", "gross_margin"})
CreditKind = Literal["owner", "split", "overlay", "rollup", "territory"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filters(_Strict):
    """Which credited deals a component counts (an empty list means any)."""

    pipelines: list[str] = []
    deal_types: list[Literal["new", "expansion", "renewal"]] = []
    product_families: list[str] = []
    # The values stored on accounts (crm.models.Segment): smb, mid, ent.
    segments: list[Literal["smb", "mid", "ent"]] = []


class Tier(_Strict):
    """From ``floor`` % of quota up to the next tier's floor, pay ``rate`` times the measure."""

    floor: Percent
    rate: Rate
    label: str = ""


class Quota(_Strict):
    """Where a component's quota comes from: the rep's published quota, or a fixed amount."""

    source: Literal["quota_plan", "fixed"] = "quota_plan"
    amount: Money | None = Field(None, description="Per measured period, when source is fixed.")

    @model_validator(mode="after")
    def _fixed_needs_amount(self) -> Quota:
        if self.source == "fixed" and not self.amount:
            raise ValueError("a fixed quota needs an amount above zero")
        return self


class Component(_Strict):
    """One way the plan pays: a commission on a measure, or a bonus/SPIF."""

    key: Slug
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["commission", "bonus"] = "commission"
    measure: Measure = "bookings"
    period: Literal["month", "quarter", "year"] = "quarter"
    # An annual component may pay advances each quarter on year-to-date results; the last
    # quarter trues up to the full annual payout.
    advances: Literal["quarter"] | None = None
    advance_percent: Percent = Decimal(100)
    credit_types: list[CreditKind] = ["owner", "split", "overlay"]
    filters: Filters = Filters()
    weight: Percent = Field(
        Decimal(100), description="Share of the target incentive this component carries."
    )
    # Commission
    quota: Quota | None = None
    rate: Rate | None = None
    tiers: list[Tier] = []
    tier_mode: Literal["marginal", "retroactive"] = "marginal"
    threshold: Percent | None = None
    cap_attainment: Percent | None = None
    cap_amount: Money | None = None
    # Bonus / SPIF
    per_deal: Money | None = None
    target: Decimal | None = Field(None, gt=0, description="Measure to reach in the window.")
    target_attainment: Percent | None = None
    bonus_amount: Money | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None

    @field_validator("tiers")
    @classmethod
    def _tiers_ordered(cls, tiers: list[Tier]) -> list[Tier]:
        floors = [t.floor for t in tiers]
        if floors and floors[0] != 0:
            raise ValueError("the first tier must start at 0 % of quota")
        if floors != sorted(set(floors)):
            raise ValueError("tier floors must be distinct and rise from one tier to the next")
        return tiers

    @model_validator(mode="after")
    def _consistent(self) -> Component:
        if self.advances and self.period != "year":
            raise ValueError("quarterly advances only apply to a yearly component")
        if self.window_start and self.window_end and self.window_end < self.window_start:
            raise ValueError("the window ends before it starts")
        if self.kind == "commission":
            if (self.rate is None) == (not self.tiers):
                raise ValueError("a commission has either a flat rate or tiers, not both")
            needs_quota = self.tiers or self.threshold is not None or self.cap_attainment
            if needs_quota and self.quota is None:
                raise ValueError("tiers, a threshold or an attainment cap need a quota")
        else:
            if (self.per_deal is None) == (self.bonus_amount is None):
                raise ValueError("a bonus pays either per_deal or bonus_amount on a target")
            if self.bonus_amount is not None:
                if (self.target is None) == (self.target_attainment is None):
                    raise ValueError("a target bonus needs target or target_attainment (one)")
                if self.target_attainment is not None and self.quota is None:
                    raise ValueError("target_attainment needs a quota")
        return self

    @property
    def is_money(self) -> bool:
        return self.measure in MONEY_MEASURES


class Draw(_Strict):
    """A monthly draw for the first ``months`` of an assignment (a guarantee for ramping reps).

    Recoverable: what the draw paid beyond earnings is taken back from later earnings above it.
    Non-recoverable: a guaranteed minimum, never taken back.
    """

    kind: Literal["recoverable", "non_recoverable"]
    monthly_amount: Money
    months: int = Field(ge=1, le=36)


class RoleTarget(_Strict):
    role: Literal["SDR", "AE", "AM", "manager"]
    target_incentive: Money
    base_salary: Money = Decimal(0)

    @property
    def on_target_earnings(self) -> Decimal:
        return self.base_salary + self.target_incentive


class PlanDocument(_Strict):
    """A whole plan version."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=120)
    fiscal_year: int = Field(ge=2000, le=2100)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    credit_date: Literal["close_date", "invoice_date"] = "close_date"
    roles: list[RoleTarget] = []
    components: list[Component] = Field(min_length=1)
    draw: Draw | None = None

    @model_validator(mode="after")
    def _unique_keys(self) -> PlanDocument:
        keys = [c.key for c in self.components]
        if len(keys) != len(set(keys)):
            raise ValueError("component keys must be unique within a plan")
        roles = [r.role for r in self.roles]
        if len(roles) != len(set(roles)):
            raise ValueError("each role appears once in roles")
        return self

    def component(self, key: str) -> Component:
        return next(c for c in self.components if c.key == key)

    def role_target(self, role: str) -> RoleTarget | None:
        return next((r for r in self.roles if r.role == role), None)


def _message(error: ValidationError) -> str:
    """One line per problem, each naming where it is (``components.1.tiers``)."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "document"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def validate(data: dict) -> PlanDocument:
    """The plan document for ``data``, or a DomainError naming each bad field and why."""
    try:
        return PlanDocument.model_validate(data)
    except ValidationError as error:
        raise DomainError(f"The plan document is not valid: {_message(error)}") from None


def parse(text: str, fmt: Literal["json", "yaml"]) -> PlanDocument:
    """Read a JSON or YAML plan document."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise DomainError(f"The file is not valid {fmt.upper()}: {error}") from None
    if not isinstance(data, dict):
        raise DomainError("A plan document is a mapping with name, fiscal_year, components, …")
    return validate(data)


def to_data(document: PlanDocument) -> dict:
    """JSON-ready dict (decimals as strings, so no rate loses a digit)."""
    return document.model_dump(mode="json", exclude_defaults=False)


def render(document: PlanDocument, fmt: Literal["json", "yaml"]) -> str:
    data = to_data(document)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
