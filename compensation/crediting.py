"""Crediting: who is credited with how much of each closed-won deal, written as Credit rows.

The rules (what reps are told):

Which deals
    A deal counts in a run when its stage is a won stage, it has an amount and a close date,
    and it closed or was invoiced within the run's dates (either date inside is enough; a
    plan decides which one it measures).

Money
    Amounts are in the corporate currency, converted at the exchange rate in force on the
    deal's close date (the latest rate dated on or before it) and rounded half up to the cent.
    A deal in a currency with no such rate is left out and reported, never credited at a
    guess. ACV is the amount over the contract's years (amount × 12 / term months) when the
    term is longer than 12 months, else the amount. An unknown gross margin counts as 0.

Who is credited
    - owner: the deal's owner, 100 %, when the deal has no revenue splits.
    - split: each revenue split's person, at its percentage. The parts add up exactly to the
      deal's amount (and ACV and margin): every part is first cut down to the cent, then the
      cents left over go one by one to the parts that lost the most, ties to the person who
      was added to SalesOps first. Units are shared by percentage (to 4 decimals).
    - overlay: each overlay's person, at its percentage of the deal, rounded half up; overlays
      reduce no one.
    - rollup: for every owner and split credit, the manager of the seller's team and of every
      team above it, with the seller's percentage and money (never the seller themself). A
      seller without a rep profile (a selling manager) rolls up from the teams they manage.
      A manager reached through two sellers of one deal gets one roll-up per seller.
    - territory: the overlay members of the territory the deal's account was in on the close
      date (the account's territory today when its history has no span for that date), 100 %
      of the deal, unless they are already credited on it as owner, split or overlay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import get_currency_precision
from django.db import connection, transaction

from compensation.models import CommissionRun
from crm.models import DealType, SplitKind
from salesops.bulk import foreign_keys_checked_now, triggers_disabled
from salesops.errors import DomainError
from salesops.money import MONEY_DECIMAL_PLACES
from salesops.org.selectors import org_settings
from territories.models import MemberRole


@dataclass(frozen=True)
class CreditsWritten:
    """What ``write_credits`` did: rows written, and won deals left out for want of a rate."""

    rows: int
    missing_rate_deals: list[int] = field(default_factory=list)


# The deal's own columns every credit carries (named alike in every CTE that has them).
DEAL_COLUMNS = (
    "deal_version, close_date, invoice_date, pipeline_id, deal_type, product_family, segment, "
    "term_months, new_logo"
)

# One statement: the won deals of the window with converted money, then every kind of credit,
# inserted together. Parameters: run_id, start, end, corporate, places, unit, new, revenue,
# overlay, member_overlay, all_deals (false to credit only deal_ids), deal_ids.
CREDITS_SQL = """
WITH RECURSIVE
won AS MATERIALIZED (
    SELECT d.id AS deal_id, d.version AS deal_version, d.owner_id, d.close_date, d.invoice_date,
           d.pipeline_id, d.type AS deal_type, d.product_family, a.segment, d.term_months,
           d.type = %(new)s AS new_logo, d.units::numeric AS units, d.amount AS raw_amount,
           coalesce(d.gross_margin, 0) AS raw_margin, a.territory_id AS account_territory_id,
           d.account_id,
           CASE WHEN d.currency = %(corporate)s THEN 1::numeric
                ELSE (SELECT r.rate FROM org_exchangerate r
                      WHERE r.currency = d.currency AND r.valid_from <= d.close_date
                      ORDER BY r.valid_from DESC LIMIT 1)
           END AS rate
    FROM crm_deal d
    JOIN crm_stage st ON st.id = d.stage_id
    JOIN crm_account a ON a.id = d.account_id
    WHERE st.is_won AND d.amount IS NOT NULL AND d.close_date IS NOT NULL
      AND (d.close_date BETWEEN %(start)s AND %(end)s
           OR d.invoice_date BETWEEN %(start)s AND %(end)s)
      AND (%(all_deals)s OR d.id = ANY(%(deal_ids)s))
),
deals AS MATERIALIZED (
    SELECT w.*,
           round(w.raw_amount * w.rate, %(places)s) AS amount,
           round(CASE WHEN w.term_months > 12 THEN w.raw_amount * w.rate * 12 / w.term_months
                      ELSE w.raw_amount * w.rate END, %(places)s) AS acv,
           round(w.raw_margin * w.rate, %(places)s) AS gross_margin
    FROM won w
    WHERE w.rate IS NOT NULL
),
splits AS MATERIALIZED (
    SELECT s.deal_id, s.user_id, s.kind, s.percent
    FROM crm_dealsplit s
    WHERE s.deal_id IN (SELECT deal_id FROM deals)
),
-- Revenue splits: each part's exact share (of the magnitude; margins may be negative), and
-- that share cut down to the cent. Shares are of the splits' own total, which is 100.
split_exact AS (
    SELECT x.*,
           floor(x.x_amount / %(unit)s) * %(unit)s AS f_amount,
           floor(x.x_acv / %(unit)s) * %(unit)s AS f_acv,
           floor(x.x_margin / %(unit)s) * %(unit)s AS f_margin
    FROM (
        SELECT s.deal_id, s.user_id, s.percent, d.units, $deal_columns,
               d.amount AS t_amount, d.acv AS t_acv, d.gross_margin AS t_margin,
               abs(d.amount) * s.percent / sum(s.percent) OVER per_deal AS x_amount,
               abs(d.acv) * s.percent / sum(s.percent) OVER per_deal AS x_acv,
               abs(d.gross_margin) * s.percent / sum(s.percent) OVER per_deal AS x_margin
        FROM splits s
        JOIN deals d ON d.deal_id = s.deal_id
        WHERE s.kind = %(revenue)s
        WINDOW per_deal AS (PARTITION BY s.deal_id)
    ) x
),
-- Largest remainder: the cents the cut-down parts lack, and each part's place in the queue
-- for them (largest remainder first, ties to the lowest user id).
split_ranked AS (
    SELECT e.*,
           (abs(e.t_amount) - sum(e.f_amount) OVER per_deal) / %(unit)s AS left_amount,
           (abs(e.t_acv) - sum(e.f_acv) OVER per_deal) / %(unit)s AS left_acv,
           (abs(e.t_margin) - sum(e.f_margin) OVER per_deal) / %(unit)s AS left_margin,
           row_number() OVER (PARTITION BY e.deal_id
                              ORDER BY e.x_amount - e.f_amount DESC, e.user_id) AS rank_amount,
           row_number() OVER (PARTITION BY e.deal_id
                              ORDER BY e.x_acv - e.f_acv DESC, e.user_id) AS rank_acv,
           row_number() OVER (PARTITION BY e.deal_id
                              ORDER BY e.x_margin - e.f_margin DESC, e.user_id) AS rank_margin
    FROM split_exact e
    WINDOW per_deal AS (PARTITION BY e.deal_id)
),
sellers AS MATERIALIZED (
    SELECT d.deal_id, d.owner_id AS user_id, 'owner'::text AS credit_type,
           100::numeric AS percent, d.amount, d.acv, d.gross_margin, d.units, $deal_columns
    FROM deals d
    WHERE NOT EXISTS (
        SELECT 1 FROM splits s WHERE s.deal_id = d.deal_id AND s.kind = %(revenue)s)
    UNION ALL
    SELECT r.deal_id, r.user_id, 'split', r.percent,
           sign(r.t_amount) * (r.f_amount
               + CASE WHEN r.rank_amount <= r.left_amount THEN %(unit)s ELSE 0 END),
           sign(r.t_acv) * (r.f_acv
               + CASE WHEN r.rank_acv <= r.left_acv THEN %(unit)s ELSE 0 END),
           sign(r.t_margin) * (r.f_margin
               + CASE WHEN r.rank_margin <= r.left_margin THEN %(unit)s ELSE 0 END),
           round(r.units * r.percent / 100, 4), $deal_columns
    FROM split_ranked r
),
overlays AS MATERIALIZED (
    SELECT d.deal_id, s.user_id, 'overlay'::text AS credit_type, s.percent,
           round(d.amount * s.percent / 100, %(places)s) AS amount,
           round(d.acv * s.percent / 100, %(places)s) AS acv,
           round(d.gross_margin * s.percent / 100, %(places)s) AS gross_margin,
           round(d.units * s.percent / 100, 4) AS units, $deal_columns
    FROM splits s
    JOIN deals d ON d.deal_id = s.deal_id
    WHERE s.kind = %(overlay)s
),
-- Every team with itself and each team above it (depth guards against a cycle in bad data).
team_up (team_id, ancestor_id, depth) AS (
    SELECT t.id, t.id, 0 FROM org_team t
    UNION ALL
    SELECT u.team_id, t.parent_id, u.depth + 1
    FROM team_up u
    JOIN org_team t ON t.id = u.ancestor_id
    WHERE t.parent_id IS NOT NULL AND u.depth < 64
),
-- The team a seller sells in: their rep profile's; a seller without one (a selling manager)
-- is placed in the teams they manage.
seller_teams AS (
    SELECT rp.user_id, rp.team_id FROM org_repprofile rp
    UNION
    SELECT t.manager_id, t.id
    FROM org_team t
    WHERE t.manager_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM org_repprofile rp WHERE rp.user_id = t.manager_id)
),
seller_managers AS MATERIALIZED (
    SELECT DISTINCT st.user_id AS seller_id, t.manager_id
    FROM seller_teams st
    JOIN team_up u ON u.team_id = st.team_id
    JOIN org_team t ON t.id = u.ancestor_id
    WHERE t.manager_id IS NOT NULL AND t.manager_id <> st.user_id
),
deal_territory AS (
    SELECT d.deal_id, coalesce(
        (SELECT sp.territory_id FROM territories_accountterritory sp
         WHERE sp.account_id = d.account_id AND sp.valid_from <= d.close_date
           AND (sp.valid_to IS NULL OR sp.valid_to >= d.close_date)
         ORDER BY sp.valid_from DESC, sp.id DESC LIMIT 1),
        d.account_territory_id) AS territory_id
    FROM deals d
),
credits AS (
    SELECT s.deal_id, s.user_id, s.credit_type, NULL::bigint AS source_user_id, s.percent,
           s.amount, s.acv, s.gross_margin, s.units, $deal_columns
    FROM sellers s
    UNION ALL
    SELECT o.deal_id, o.user_id, o.credit_type, NULL, o.percent,
           o.amount, o.acv, o.gross_margin, o.units, $deal_columns
    FROM overlays o
    UNION ALL
    SELECT s.deal_id, m.manager_id, 'rollup', s.user_id, s.percent,
           s.amount, s.acv, s.gross_margin, s.units, $deal_columns
    FROM sellers s
    JOIN seller_managers m ON m.seller_id = s.user_id
    UNION ALL
    SELECT d.deal_id, tm.user_id, 'territory', d.owner_id, 100,
           d.amount, d.acv, d.gross_margin, d.units, $deal_columns
    FROM deal_territory dt
    JOIN deals d ON d.deal_id = dt.deal_id
    JOIN territories_territorymember tm
      ON tm.territory_id = dt.territory_id AND tm.role = %(member_overlay)s
    WHERE NOT EXISTS (
            SELECT 1 FROM sellers s WHERE s.deal_id = d.deal_id AND s.user_id = tm.user_id)
      AND NOT EXISTS (
            SELECT 1 FROM overlays o WHERE o.deal_id = d.deal_id AND o.user_id = tm.user_id)
),
written AS (
    INSERT INTO compensation_credit (
        run_id, deal_id, user_id, credit_type, source_user_id, percent, amount, acv,
        gross_margin, units, $deal_columns)
    SELECT %(run_id)s, deal_id, user_id, credit_type, source_user_id, percent, amount, acv,
           gross_margin, units, $deal_columns
    FROM credits
    RETURNING 1
)
SELECT (SELECT count(*) FROM written),
       (SELECT coalesce(array_agg(deal_id ORDER BY deal_id), '{}') FROM won WHERE rate IS NULL)
""".replace("$deal_columns", DEAL_COLUMNS)


# Memory for the statement's sorts and hashes (the server's default is a few megabytes).
STATEMENT_WORK_MEM = "256MB"


def write_credits(
    *, run_id: int, start: dt.date, end: dt.date, deal_ids: Sequence[int] | None = None
) -> CreditsWritten:
    """Credit every closed-won deal of ``start``..``end`` (inclusive) to run ``run_id``.

    ``deal_ids`` narrows it to those deals (still only if won in the window), for rechecking
    deals of locked periods. One set-based statement, so a quarter of a large org takes
    seconds. It adds rows: the caller clears a run's credits before calculating it again. A
    settled (approved or paid) run is refused, since its figures must never change.
    """
    corporate = org_settings().corporate_currency
    places = min(get_currency_precision(corporate), MONEY_DECIMAL_PLACES)
    params = {
        "run_id": run_id,
        "start": start,
        "end": end,
        "corporate": corporate,
        "places": places,
        "unit": Decimal(1).scaleb(-places),
        "new": DealType.NEW.value,
        "revenue": SplitKind.REVENUE.value,
        "overlay": SplitKind.OVERLAY.value,
        "member_overlay": MemberRole.OVERLAY.value,
        "all_deals": deal_ids is None,
        "deal_ids": list(deal_ids or []),
    }
    with transaction.atomic():
        run = CommissionRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise DomainError(f"Commission run {run_id} does not exist.")
        if run.is_settled:
            raise DomainError(
                f"{run} is {run.get_status_display().lower()}: its credits can no longer change."
            )
        # Every user id written comes from a column whose foreign key the database has checked
        # (deal owners, splits, team managers, territory members) and the run is locked above,
        # so the per-row foreign-key triggers (over half the time at a million credits) are
        # skipped where the role may. Where it may not, they are checked now, so a million
        # queued checks do not slow every audited write later in the transaction.
        # (The savepoint inside keeps the transaction usable if the statement fails, so the
        # settings can be put back and the real error is the one raised.)
        with (
            triggers_disabled(),
            foreign_keys_checked_now(),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            # Sort and hash a million credits in memory rather than in temporary files.
            cursor.execute("SELECT current_setting('work_mem')")
            (work_mem,) = cursor.fetchone()
            cursor.execute("SELECT set_config('work_mem', %s, true)", [STATEMENT_WORK_MEM])
            cursor.execute(CREDITS_SQL, params)
            rows, missing = cursor.fetchone()
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
    return CreditsWritten(rows=rows, missing_rate_deals=list(missing))
