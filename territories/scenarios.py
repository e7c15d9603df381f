"""What-if scenarios, read side: territory metrics, balance, the diff of two plans and their
side-by-side comparison.

Where accounts sit under a plan (its *placement*): for the live plan, where they are today
(``Account.territory_id`` and owner); for any other plan (drafts, scheduled, retired, archived),
where its rules would put them now (``territories.assignment.match_accounts``) and, for owners,
whom an assignment run would give them (the run's own owner rule). Every figure is computed by a
few set-based SQL statements over all accounts and deals; nothing loops over territories.

Figures (``TerritoryMetrics``), each for a territory's own accounts plus its whole subtree's:

- ``accounts``: how many accounts sit there.
- ``potential``: the accounts' annual revenue in the corporate currency, at the rate in force on
  ``as_of``; ``employees`` is a second proxy of potential.
- ``pipeline``: the corporate amount of the accounts' deals open *now* (``closed_at`` NULL), each at
  the rate in force on its close date (``as_of`` when it has none), as the KPI facts convert.
- ``bookings``: won deals that closed in the twelve months up to ``as_of``: close date after
  ``as_of`` minus one year and on or before ``as_of`` (the day they were closed when they carry no
  close date), at the rate of the close date.
- ``owners`` / ``overlays``: active people who are owner / overlay members of the territory or of a
  territory below it (a person in two territories of a subtree counts once).
- ``unconverted``: amounts (revenues, deal amounts) left out because no exchange rate was in force
  on their day; a page shows them as a warning rather than a silently low figure.

Each converted amount is rounded to the corporate currency's minor unit before summing, exactly
as ``salesops.org.selectors.to_corporate`` rounds one amount, so totals agree with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import get_currency_precision
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from salesops.errors import DomainError
from salesops.org.selectors import org_settings
from territories.assignment import match_accounts
from territories.balancing import Balance, balance_scores
from territories.models import MemberRole, PlanStatus, TerritoryMember, TerritoryPlan

# An open deal whose probability (the deal's own, in percent) is at least this is in a late stage:
# its account should not change hands while it closes, so auto-balancing never moves it.
LATE_STAGE_PROBABILITY = Decimal(50)

# Measures a plan can be balanced on, with the label pages and charts show.
MEASURES: dict[str, str] = {
    "accounts": "Accounts",
    "potential": "Potential (annual revenue)",
    "employees": "Employees",
    "pipeline": "Open pipeline",
    "bookings": "Bookings (trailing 12 months)",
}

# Fields of TerritoryMetrics that compare as numbers (scenario_compare's deltas).
NUMBER_FIELDS = (
    "accounts", "potential", "employees", "pipeline", "bookings", "owners", "overlays",
)  # fmt: skip


def require_measure(measure: str) -> None:
    if measure not in MEASURES:
        raise DomainError(
            f"'{measure}' is not a measure; choose one of {', '.join(MEASURES)}.", field="measure"
        )


# --- The territory tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeNode:
    """A territory of a plan, as the tree sees it."""

    id: int
    key: str
    name: str
    parent_key: str | None
    depth: int
    children: tuple[str, ...]


@dataclass(frozen=True)
class PlanTree:
    """A plan's territories by key, depth first (siblings by name), with subtree helpers."""

    nodes: dict[str, TreeNode]

    @property
    def key_by_id(self) -> dict[int, str]:
        return {node.id: key for key, node in self.nodes.items()}

    def subtree(self, key: str) -> list[str]:
        """``key`` and every territory below it, depth first."""
        keys = [key]
        for child in self.nodes[key].children:
            keys += self.subtree(child)
        return keys

    def ancestors(self, key: str) -> list[str]:
        """The territories above ``key``, nearest first."""
        found = []
        parent = self.nodes[key].parent_key
        while parent is not None:
            found.append(parent)
            parent = self.nodes[parent].parent_key
        return found

    def leaves(self) -> list[str]:
        return [key for key, node in self.nodes.items() if not node.children]

    def parents(self) -> list[str]:
        return [key for key, node in self.nodes.items() if node.children]


def plan_tree(plan: TerritoryPlan) -> PlanTree:
    """The territory tree of ``plan`` (one query)."""
    rows = list(plan.territories.order_by("name", "key").values("id", "key", "name", "parent_id"))
    key_of = {row["id"]: row["key"] for row in rows}
    children: dict[int | None, list[dict]] = {}
    for row in rows:
        children.setdefault(row["parent_id"], []).append(row)
    nodes: dict[str, TreeNode] = {}

    def walk(parent_id: int | None, depth: int) -> None:
        for row in children.get(parent_id, []):
            nodes[row["key"]] = TreeNode(
                id=row["id"],
                key=row["key"],
                name=row["name"],
                parent_key=key_of.get(row["parent_id"]),
                depth=depth,
                children=tuple(child["key"] for child in children.get(row["id"], [])),
            )
            walk(row["id"], depth + 1)

    walk(None, 0)
    return PlanTree(nodes=nodes)


# --- Placement: where a plan puts every account -------------------------------------------------


def place_accounts(plan: TerritoryPlan, table: str, *, owners: bool = False) -> None:
    """Fill temp table ``table(account_id, territory_id, owner_id)`` with every account's place
    under ``plan`` (``territory_id`` NULL for a live-plan account no run has placed yet).

    ``owners`` also projects owners for a plan that is not live (as a run would choose them);
    otherwise ``owner_id`` is the account's owner today. Call inside a transaction: the table,
    like the matcher's, is dropped at commit.
    """
    live = plan.status == PlanStatus.LIVE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        if live:
            cursor.execute(
                f"""
                CREATE TEMP TABLE {table} ON COMMIT DROP AS
                SELECT a.id AS account_id, t.id AS territory_id, a.owner_id
                FROM crm_account a
                LEFT JOIN territories_territory t ON t.id = a.territory_id AND t.plan_id = %s
                """,
                [plan.pk],
            )
        else:
            match_accounts(plan)
            if owners:
                # The run's own owner rule (fills rule_owner), so a projection cannot drift from
                # what applying the plan would do.
                from territories.runs import choose_owners

                choose_owners()
                source = "SELECT account_id, territory_id, new_owner AS owner_id FROM rule_owner"
            else:
                source = (
                    "SELECT t.account_id, t.territory_id, a.owner_id FROM rule_target t"
                    " JOIN crm_account a ON a.id = t.account_id"
                )
            cursor.execute(f"CREATE TEMP TABLE {table} ON COMMIT DROP AS {source}")
        cursor.execute(f"CREATE UNIQUE INDEX ON {table} (account_id); ANALYZE {table}")


def use_figures_memory(cursor) -> None:
    """Let the per-account aggregation over every deal hash in memory rather than spill to disk
    (the KPI recompute's budget, for the current transaction only)."""
    cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.SALESOPS_KPI_WORK_MEM])


def figures_params(as_of: dt.date) -> dict:
    """The parameters of ``account_figures_sql`` for figures as of ``as_of``."""
    corporate = org_settings().corporate_currency
    return {
        "corporate": corporate,
        "digits": get_currency_precision(corporate),
        "as_of": as_of,
        "since": as_of - relativedelta(years=1),
        "tz": settings.TIME_ZONE,
        "late": LATE_STAGE_PROBABILITY,
    }


def account_figures_sql(place: str) -> str:
    """SQL of one row per placed account: ``account_id, territory_id, potential, employees,
    pipeline, bookings, unconverted, late`` (``late``: it has an open late-stage deal).

    ``place`` is a table made by ``place_accounts``; parameters come from ``figures_params``.
    """
    return f"""
    WITH rate AS (
        SELECT DISTINCT ON (currency) currency, rate FROM org_exchangerate
        WHERE valid_from <= %(as_of)s ORDER BY currency, valid_from DESC
    ), deal AS (
        SELECT d.account_id,
               sum(x.amount) FILTER (WHERE d.closed_at IS NULL) AS pipeline,
               sum(x.amount) FILTER (WHERE d.closed_at IS NOT NULL) AS bookings,
               count(*) FILTER (WHERE d.amount IS NOT NULL AND x.amount IS NULL) AS unconverted,
               bool_or(d.closed_at IS NULL AND d.probability >= %(late)s) AS late
        FROM crm_deal d
        JOIN {place} p ON p.account_id = d.account_id AND p.territory_id IS NOT NULL
        JOIN crm_stage st ON st.id = d.stage_id
        CROSS JOIN LATERAL (
            SELECT coalesce(d.close_date, (d.closed_at AT TIME ZONE %(tz)s)::date) AS day
        ) c
        CROSS JOIN LATERAL (
            SELECT CASE WHEN d.currency = %(corporate)s THEN d.amount
                        ELSE round(d.amount * (
                            SELECT r.rate FROM org_exchangerate r
                            WHERE r.currency = d.currency
                              AND r.valid_from <= coalesce(d.close_date, %(as_of)s)
                            ORDER BY r.valid_from DESC LIMIT 1), %(digits)s)
                   END AS amount
        ) x
        WHERE d.closed_at IS NULL
           OR (st.is_won AND c.day > %(since)s AND c.day <= %(as_of)s)
        GROUP BY d.account_id
    )
    SELECT p.account_id, p.territory_id,
           coalesce(CASE WHEN a.revenue_currency = %(corporate)s THEN a.annual_revenue
                         ELSE round(a.annual_revenue * r.rate, %(digits)s) END, 0) AS potential,
           coalesce(a.employees, 0) AS employees,
           coalesce(dl.pipeline, 0) AS pipeline,
           coalesce(dl.bookings, 0) AS bookings,
           coalesce(dl.unconverted, 0)
             + (a.annual_revenue IS NOT NULL AND a.revenue_currency <> %(corporate)s
                AND r.rate IS NULL)::int AS unconverted,
           coalesce(dl.late, false) AS late
    FROM {place} p
    JOIN crm_account a ON a.id = p.account_id
    LEFT JOIN rate r ON r.currency = a.revenue_currency
    LEFT JOIN deal dl ON dl.account_id = p.account_id
    WHERE p.territory_id IS NOT NULL
    """


# --- Metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerritoryMetrics:
    """A territory's figures, its subtree's included (see the module docstring)."""

    key: str
    name: str
    parent_key: str | None
    depth: int
    is_leaf: bool
    accounts: int = 0
    potential: Decimal = Decimal(0)
    employees: int = 0
    pipeline: Decimal = Decimal(0)
    bookings: Decimal = Decimal(0)
    owners: int = 0
    overlays: int = 0
    unconverted: int = 0


def measure_value(metrics: TerritoryMetrics, measure: str) -> Decimal:
    """The load of ``metrics`` on ``measure``, as a Decimal of zero or more (for balancing)."""
    require_measure(measure)
    return max(Decimal(getattr(metrics, measure)), Decimal(0))


_SUMMED = ("accounts", "potential", "employees", "pipeline", "bookings", "unconverted")


def territory_metrics(
    plan: TerritoryPlan, *, as_of: dt.date | None = None
) -> dict[str, TerritoryMetrics]:
    """Figures of every territory of ``plan`` by key, in tree order, rolled up to each ancestor.

    Accounts the live plan has not placed yet (no run) count nowhere.
    """
    as_of = as_of or timezone.localdate()
    tree = plan_tree(plan)
    with transaction.atomic(), connection.cursor() as cursor:
        place_accounts(plan, "scen_place")
        use_figures_memory(cursor)
        cursor.execute(
            f"""
            SELECT territory_id, count(*), sum(potential), sum(employees), sum(pipeline),
                   sum(bookings), sum(unconverted)
            FROM ({account_figures_sql("scen_place")}) f
            GROUP BY territory_id
            """,
            figures_params(as_of),
        )
        own = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE scen_place")
    members = TerritoryMember.objects.filter(territory__plan=plan, user__is_active=True)
    people: dict[str, dict[str, set[int]]] = {
        key: {MemberRole.OWNER: set(), MemberRole.OVERLAY: set()} for key in tree.nodes
    }
    key_by_id = tree.key_by_id
    for territory_id, user_id, role in members.values_list("territory_id", "user_id", "role"):
        people[key_by_id[territory_id]][role].add(user_id)

    totals: dict[str, dict] = {}
    for key in reversed(tree.nodes):  # children before their parents
        node = tree.nodes[key]
        figures = own.get(node.id, (0, 0, 0, 0, 0, 0))
        total = {name: value or 0 for name, value in zip(_SUMMED, figures, strict=True)}
        owners = set(people[key][MemberRole.OWNER])
        overlays = set(people[key][MemberRole.OVERLAY])
        for child in node.children:
            for name in _SUMMED:
                total[name] += totals[child][name]
            owners |= totals[child]["_owners"]
            overlays |= totals[child]["_overlays"]
        totals[key] = {**total, "_owners": owners, "_overlays": overlays}
    return {
        key: TerritoryMetrics(
            key=key,
            name=node.name,
            parent_key=node.parent_key,
            depth=node.depth,
            is_leaf=not node.children,
            accounts=int(totals[key]["accounts"]),
            potential=Decimal(totals[key]["potential"]),
            employees=int(totals[key]["employees"]),
            pipeline=Decimal(totals[key]["pipeline"]),
            bookings=Decimal(totals[key]["bookings"]),
            owners=len(totals[key]["_owners"]),
            overlays=len(totals[key]["_overlays"]),
            unconverted=int(totals[key]["unconverted"]),
        )
        for key, node in tree.nodes.items()
    }


# --- Balance ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanBalance:
    """How even a plan is on one measure: among each parent's children, and across the leaves."""

    measure: str
    by_parent: dict[str, Balance]  # parent key -> balance over its children's subtrees
    leaves: Balance | None  # across every leaf territory (None for a plan with no territories)


def balance_by_parent(
    plan: TerritoryPlan,
    measure: str,
    *,
    as_of: dt.date | None = None,
    metrics: Mapping[str, TerritoryMetrics] | None = None,
) -> PlanBalance:
    """Balance scores of ``plan`` on ``measure`` (pass ``metrics`` already computed to reuse them)."""
    require_measure(measure)
    metrics = metrics if metrics is not None else territory_metrics(plan, as_of=as_of)
    return plan_balance(metrics, measure)


def plan_balance(metrics: Mapping[str, TerritoryMetrics], measure: str) -> PlanBalance:
    """``balance_by_parent`` on figures already computed (no query)."""
    require_measure(measure)
    children: dict[str, list[str]] = {}
    for key, row in metrics.items():
        if row.parent_key is not None:
            children.setdefault(row.parent_key, []).append(key)
    by_parent = {
        parent: balance_scores({key: measure_value(metrics[key], measure) for key in keys})
        for parent, keys in children.items()
    }
    leaves = {key: measure_value(row, measure) for key, row in metrics.items() if row.is_leaf}
    return PlanBalance(
        measure=measure, by_parent=by_parent, leaves=balance_scores(leaves) if leaves else None
    )


# --- Diff ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    """An account that would change territory (by key) or owner."""

    account_id: int
    name: str
    from_key: str | None  # None: the base plan has not placed it
    to_key: str | None
    from_owner_id: int | None
    to_owner_id: int | None
    from_owner: str
    to_owner: str


@dataclass(frozen=True)
class DiffPair:
    from_key: str | None
    to_key: str | None
    accounts: int


@dataclass(frozen=True)
class ScenarioDiff:
    """What applying ``scenario`` instead of ``base`` changes; ``rows`` is one page of it, every
    count is exact."""

    scenario: TerritoryPlan
    base: TerritoryPlan
    accounts_compared: int
    # Accounts whose territory or owner changes: the rows there are to page through (with
    # ``pair``, that pair's count in ``pairs`` is the filtered list's total).
    total: int
    territory_moves: int
    owner_changes: int
    pairs: list[DiffPair]  # territory moves by (from, to), most accounts first
    rows: list[DiffRow]
    limit: int
    offset: int


_DIFF_SQL = """
DROP TABLE IF EXISTS scen_diff;
CREATE TEMP TABLE scen_diff ON COMMIT DROP AS
SELECT s.account_id, fb.key AS from_key, ft.key AS to_key,
       b.owner_id AS from_owner, s.owner_id AS to_owner,
       fb.key IS DISTINCT FROM ft.key AS moved,
       b.owner_id IS DISTINCT FROM s.owner_id AS owner_changed
FROM scen_to s
JOIN scen_from b ON b.account_id = s.account_id
LEFT JOIN territories_territory fb ON fb.id = b.territory_id
LEFT JOIN territories_territory ft ON ft.id = s.territory_id
WHERE fb.key IS DISTINCT FROM ft.key OR b.owner_id IS DISTINCT FROM s.owner_id;
"""

_DIFF_PAGE_SQL = """
SELECT d.account_id, a.name, d.from_key, d.to_key, d.from_owner, d.to_owner,
       coalesce(nullif(trim(fo.first_name || ' ' || fo.last_name), ''), fo.username, ''),
       coalesce(nullif(trim(t_o.first_name || ' ' || t_o.last_name), ''), t_o.username, '')
FROM scen_diff d
JOIN crm_account a ON a.id = d.account_id
LEFT JOIN org_user fo ON fo.id = d.from_owner
LEFT JOIN org_user t_o ON t_o.id = d.to_owner
WHERE %(all)s OR (d.moved AND d.from_key IS NOT DISTINCT FROM %(from_key)s
                  AND d.to_key IS NOT DISTINCT FROM %(to_key)s)
ORDER BY d.from_key NULLS FIRST, d.to_key NULLS FIRST, a.name, d.account_id
LIMIT %(limit)s OFFSET %(offset)s
"""


def scenario_diff(
    scenario: TerritoryPlan,
    base: TerritoryPlan | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    pair: tuple[str | None, str | None] | None = None,
) -> ScenarioDiff:
    """Accounts ``scenario`` places in another territory (by key) or gives another owner than
    ``base`` (the live plan by default) does.

    Owners are projected as an assignment run would choose them (keep the owner when they own
    the new territory, else its owners take turns). ``pair`` narrows the page to one
    (from key, to key) territory move; the counts always cover every account.
    """
    if base is None:
        base = TerritoryPlan.objects.filter(status=PlanStatus.LIVE).first()
        if base is None:
            raise DomainError("There is no live plan to compare with.", field="base")
    if limit < 0 or offset < 0:
        raise DomainError("The page limit and offset must be zero or more.", field="limit")
    with transaction.atomic(), connection.cursor() as cursor:
        place_accounts(base, "scen_from", owners=True)
        place_accounts(scenario, "scen_to", owners=True)
        cursor.execute(_DIFF_SQL)
        cursor.execute(
            "SELECT (SELECT count(*) FROM scen_to), count(*),"
            " count(*) FILTER (WHERE moved), count(*) FILTER (WHERE owner_changed)"
            " FROM scen_diff"
        )
        compared, total, moves, owner_changes = cursor.fetchone()
        cursor.execute(
            "SELECT from_key, to_key, count(*) FROM scen_diff WHERE moved"
            " GROUP BY from_key, to_key ORDER BY count(*) DESC, from_key, to_key"
        )
        pairs = [DiffPair(*row) for row in cursor.fetchall()]
        cursor.execute(
            _DIFF_PAGE_SQL,
            {
                "all": pair is None,
                "from_key": pair[0] if pair else None,
                "to_key": pair[1] if pair else None,
                "limit": limit,
                "offset": offset,
            },
        )
        rows = [DiffRow(*row) for row in cursor.fetchall()]
        cursor.execute("DROP TABLE scen_from, scen_to, scen_diff")
    return ScenarioDiff(
        scenario=scenario,
        base=base,
        accounts_compared=compared,
        total=total,
        territory_moves=moves,
        owner_changes=owner_changes,
        pairs=pairs,
        rows=rows,
        limit=limit,
        offset=offset,
    )


# --- Compare ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedTerritory:
    """One territory key in both plans: its figures in each (None where the plan lacks the key)
    and ``b - a`` for every number (a missing side counts as zero)."""

    key: str
    name: str
    depth: int
    a: TerritoryMetrics | None
    b: TerritoryMetrics | None
    delta: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioComparison:
    a: TerritoryPlan
    b: TerritoryPlan
    rows: list[ComparedTerritory]  # a's tree order, then keys only b has
    balance_a: dict[str, PlanBalance]  # by measure
    balance_b: dict[str, PlanBalance]


def scenario_compare(
    a: TerritoryPlan, b: TerritoryPlan, *, as_of: dt.date | None = None
) -> ScenarioComparison:
    """Figures of two plans side by side by territory key, with deltas and both balances."""
    as_of = as_of or timezone.localdate()
    metrics_a = territory_metrics(a, as_of=as_of)
    metrics_b = territory_metrics(b, as_of=as_of)
    rows = []
    for key in [*metrics_a, *(k for k in metrics_b if k not in metrics_a)]:
        left, right = metrics_a.get(key), metrics_b.get(key)
        shown = right or left
        rows.append(
            ComparedTerritory(
                key=key,
                name=shown.name,
                depth=shown.depth,
                a=left,
                b=right,
                delta={
                    name: Decimal(getattr(right, name) if right else 0)
                    - Decimal(getattr(left, name) if left else 0)
                    for name in NUMBER_FIELDS
                },
            )
        )
    return ScenarioComparison(
        a=a,
        b=b,
        rows=rows,
        balance_a={m: plan_balance(metrics_a, m) for m in MEASURES},
        balance_b={m: plan_balance(metrics_b, m) for m in MEASURES},
    )
