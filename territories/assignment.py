"""Which territory each account lands in under a plan's rules: one set-based SQL pass, and the
same rules in Python for the "where would this account land" tester.

Rules are tried by position; the first whose every condition holds wins; the catch-all (tried
last wherever it sits) takes the rest, so every account lands in exactly one territory. Matching in SQL does not try every
rule on every account: each rule is keyed by its most selective condition (named accounts, then
country and region, country and the first character of its postal prefixes, country, region,
postal first character) and joined to the accounts with that key by hash;
only rules with none of those (segment, industry, size ranges, the catch-all) meet every account.
The candidate pairs then check the rule's remaining conditions, and the lowest position wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from salesops.errors import DomainError
from territories.models import AssignmentRule, TerritoryPlan

# The temp table ``rule_target(account_id, territory_id, rule_id)`` holds the result.
TARGET_TABLE = "rule_target"
# Every temp table a match or an apply makes (dropped at commit, or by the next match).
TEMP_TABLES = (
    "rule_def", "rule_key", "rule_account", "rule_target", "rule_owner", "rule_changed",
    "rule_deal",
)  # fmt: skip

_RULES_SQL = """
CREATE TEMP TABLE rule_def ON COMMIT DROP AS
SELECT r.id AS rule_id, r.position, r.territory_id,
       ARRAY(SELECT upper(trim(v)) FROM unnest(r.countries) v) AS countries,
       ARRAY(SELECT lower(trim(v)) FROM unnest(r.regions) v) AS regions,
       ARRAY(SELECT upper(replace(v, ' ', '')) FROM unnest(r.postal_prefixes) v) AS postals,
       ARRAY(SELECT lower(trim(v)) FROM unnest(r.industries) v) AS industries,
       r.segments, r.employees_min, r.employees_max, r.revenue_min, r.revenue_max,
       r.named_account_ids AS named, r.catch_all
FROM territories_assignmentrule r WHERE r.plan_id = %(plan)s;

CREATE TEMP TABLE rule_key ON COMMIT DROP AS
WITH d AS (
    SELECT *, cardinality(named) > 0 AS by_name, cardinality(countries) > 0 AS by_country,
           cardinality(regions) > 0 AS by_region, cardinality(postals) > 0 AS by_postal,
           ARRAY(SELECT DISTINCT left(p, 1) FROM unnest(postals) p) AS firsts
    FROM rule_def
)
SELECT rule_id, position, 'n' AS kind, NULL::text AS country, NULL::text AS region,
       NULL::text AS first, a AS account_id
FROM d, unnest(named) a WHERE by_name
UNION ALL
SELECT rule_id, position, 'cr', c, g, NULL, NULL FROM d, unnest(countries) c, unnest(regions) g
WHERE NOT by_name AND by_country AND by_region
UNION ALL
SELECT rule_id, position, 'cp', c, NULL, f, NULL FROM d, unnest(countries) c, unnest(firsts) f
WHERE NOT by_name AND by_country AND NOT by_region AND by_postal
UNION ALL
SELECT rule_id, position, 'c', c, NULL, NULL, NULL FROM d, unnest(countries) c
WHERE NOT by_name AND by_country AND NOT by_region AND NOT by_postal
UNION ALL
SELECT rule_id, position, 'r', NULL, g, NULL, NULL FROM d, unnest(regions) g
WHERE NOT by_name AND NOT by_country AND by_region
UNION ALL
SELECT rule_id, position, 'p', NULL, NULL, f, NULL FROM d, unnest(firsts) f
WHERE NOT by_name AND NOT by_country AND NOT by_region AND by_postal
UNION ALL
SELECT rule_id, position, '*', NULL, NULL, NULL, NULL FROM d
WHERE NOT by_name AND NOT by_country AND NOT by_region AND NOT by_postal;
ANALYZE rule_key;
"""

# The accounts' matching fields, normalised once like the rules' values.
_ACCOUNTS_SQL = """
CREATE TEMP TABLE rule_account ON COMMIT DROP AS
SELECT id, upper(trim(country)) AS country, lower(trim(region)) AS region,
       upper(replace(postal_code, ' ', '')) AS postal,
       left(upper(replace(postal_code, ' ', '')), 1) AS first, lower(trim(industry)) AS industry,
       segment, employees, annual_revenue
FROM crm_account {where};
ANALYZE rule_account;
"""

_MATCH_SQL = """
CREATE TEMP TABLE rule_target ON COMMIT DROP AS
WITH candidate AS (
    SELECT a.id AS account_id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'n' AND k.account_id = a.id
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'cr' AND k.country = a.country AND k.region = a.region
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'cp' AND k.country = a.country AND k.first = a.first
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'c' AND k.country = a.country
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'p' AND k.first = a.first
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    JOIN rule_key k ON k.kind = 'r' AND k.region = a.region
    UNION ALL
    SELECT a.id, k.rule_id, k.position FROM rule_account a
    CROSS JOIN (SELECT rule_id, position FROM rule_key WHERE kind = '*') k
)
SELECT DISTINCT ON (c.account_id) c.account_id, d.territory_id, d.rule_id
FROM candidate c
JOIN rule_def d ON d.rule_id = c.rule_id
JOIN rule_account a ON a.id = c.account_id
WHERE (cardinality(d.countries) = 0 OR a.country = ANY(d.countries))
  AND (cardinality(d.regions) = 0 OR a.region = ANY(d.regions))
  AND (cardinality(d.postals) = 0
       OR EXISTS (SELECT 1 FROM unnest(d.postals) p WHERE starts_with(a.postal, p)))
  AND (cardinality(d.industries) = 0 OR a.industry = ANY(d.industries))
  AND (cardinality(d.segments) = 0 OR a.segment = ANY(d.segments))
  AND (d.employees_min IS NULL OR COALESCE(a.employees >= d.employees_min, false))
  AND (d.employees_max IS NULL OR COALESCE(a.employees <= d.employees_max, false))
  AND (d.revenue_min IS NULL OR COALESCE(a.annual_revenue >= d.revenue_min, false))
  AND (d.revenue_max IS NULL OR COALESCE(a.annual_revenue <= d.revenue_max, false))
  AND (cardinality(d.named) = 0 OR a.id = ANY(d.named))
ORDER BY c.account_id, d.catch_all, c.position, c.rule_id;
CREATE UNIQUE INDEX ON rule_target (account_id);
ANALYZE rule_target;
"""


def require_catch_all(plan: TerritoryPlan) -> None:
    """Refuse a plan whose rules could leave an account without a territory."""
    if not AssignmentRule.objects.filter(plan=plan, catch_all=True).exists():
        raise DomainError(
            f"{plan} has no catch-all rule, so some accounts could land nowhere. "
            "Add a catch-all rule (the last rule, matching every account left).",
            field="rules",
        )


def match_accounts(plan: TerritoryPlan, account_ids: Iterable[int] | None = None) -> int:
    """Fill the temp table ``rule_target`` with each account's territory under ``plan``.

    Runs inside the caller's transaction (the temp tables drop at commit). ``account_ids``
    narrows the accounts (the tester and tests); by default every account is matched.
    Returns the number of accounts matched.
    """
    require_catch_all(plan)
    params: dict[str, Any] = {"plan": plan.pk}
    with connection.cursor() as cursor:
        # Earlier calls in the same transaction (tests, a preview then an apply) leave them.
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}")
        cursor.execute(_RULES_SQL, params)
        if account_ids is None:
            cursor.execute(_ACCOUNTS_SQL.format(where=""))
        else:
            cursor.execute(
                _ACCOUNTS_SQL.format(where="WHERE id = ANY(%(ids)s)"), {"ids": list(account_ids)}
            )
        cursor.execute(_MATCH_SQL)
        cursor.execute("SELECT count(*) FROM rule_target")
        return cursor.fetchone()[0]


# --- The same rules in Python -------------------------------------------------------------------


@dataclass(frozen=True)
class Landing:
    """Where an account would land, and which rule put it there."""

    rule: AssignmentRule

    @property
    def territory(self):
        return self.rule.territory


def _norm(value: Any, *, upper: bool = False) -> str:
    text = str(value or "").strip()
    return text.upper() if upper else text.lower()


def rule_matches(rule: AssignmentRule, account: Mapping[str, Any]) -> bool:
    """True if every condition ``rule`` sets holds for ``account`` (a dict of account fields).

    Mirrors the SQL above; a test checks the two agree on generated accounts.
    """
    if rule.named_account_ids and account.get("id") not in rule.named_account_ids:
        return False
    if rule.countries and _norm(account.get("country"), upper=True) not in {
        _norm(v, upper=True) for v in rule.countries
    }:
        return False
    if rule.regions and _norm(account.get("region")) not in {_norm(v) for v in rule.regions}:
        return False
    if rule.postal_prefixes:
        postal = str(account.get("postal_code") or "").replace(" ", "").upper()
        if not any(postal.startswith(p.replace(" ", "").upper()) for p in rule.postal_prefixes):
            return False
    if rule.industries and _norm(account.get("industry")) not in {
        _norm(v) for v in rule.industries
    }:
        return False
    if rule.segments and account.get("segment") not in rule.segments:
        return False
    return _in_range(account.get("employees"), rule.employees_min, rule.employees_max) and (
        _in_range(account.get("annual_revenue"), rule.revenue_min, rule.revenue_max)
    )


def _in_range(value, low, high) -> bool:
    if low is None and high is None:
        return True
    if value in (None, ""):
        return False
    value = Decimal(value)
    return (low is None or value >= low) and (high is None or value <= high)


def landing_for(plan: TerritoryPlan, account: Mapping[str, Any]) -> Landing:
    """The first rule of ``plan`` that ``account`` matches (the catch-all at worst)."""
    require_catch_all(plan)
    rules = AssignmentRule.objects.filter(plan=plan).select_related("territory")
    for rule in rules.order_by("catch_all", "position", "id"):
        if rule_matches(rule, account):
            return Landing(rule=rule)
    raise AssertionError("unreachable: the catch-all matches every account")
