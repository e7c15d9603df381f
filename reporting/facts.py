"""The fact sources KPIs aggregate: SQL producing one row per closed deal, open deal, stage stay,
lead, meeting and monthly rep quota.

Every source yields ``owner_id``, ``territory_id``, ``breakdown`` (text, '' unless per stage),
``period_date`` (the date that decides the fiscal period) and the columns its KPIs measure.
Deal sources read the deals either as they are now or as of a moment, rebuilt from stage history
(the last history row before the moment); both give the same columns, so every KPI works as of any
past date. Parameters: ``%(until)s`` (the moment, exclusive), ``%(tz)s`` (the org time zone),
``%(corporate)s`` (the corporate currency), ``%(today)s`` (rate day of deals without a close
date), ``%(lo)s`` / ``%(hi)s`` (first and last day of the periods computed), ``%(lo_at)s`` (the
start of the first day) and ``%(hi_at)s`` (a day after the last), ``%(all_owners)s`` (false when
only the owners in ``kpi_owners`` can count in the scopes asked for).
"""

from __future__ import annotations

# The deals as they are now.
CURRENT_DEAL_STATE = """
    SELECT d.id AS deal_id, d.owner_id, d.stage_id, d.amount, d.currency, d.close_date,
           d.probability
    FROM crm_deal d
"""

# The deals as of %(until)s: each deal's last history row written before it.
HISTORY_DEAL_STATE = """
    SELECT DISTINCT ON (h.deal_id)
           h.deal_id, h.to_owner_id AS owner_id, h.to_stage_id AS stage_id,
           h.to_amount AS amount, h.currency, h.to_close_date AS close_date,
           h.to_probability AS probability
    FROM crm_dealhistory h
    WHERE h.changed_at < %(until)s
    ORDER BY h.deal_id, h.changed_at DESC, h.id DESC
"""

# Deal state joined with what KPIs need; amounts in the corporate currency at the rate in force
# on the close date (the latest rate on or before it), NULL when there is no such rate.
DEALS = """
    SELECT s.deal_id, s.owner_id, a.territory_id, d.pipeline_id, a.segment, d.type AS deal_type,
           s.close_date, st.is_won, st.is_lost,
           coalesce(s.probability, st.probability) AS probability,
           CASE WHEN s.currency = %(corporate)s THEN s.amount
                ELSE s.amount * (
                    SELECT r.rate FROM org_exchangerate r
                    WHERE r.currency = s.currency
                      AND r.valid_from <= coalesce(s.close_date, %(today)s)
                    ORDER BY r.valid_from DESC LIMIT 1)
           END AS amount,
           (d.created_at AT TIME ZONE %(tz)s)::date AS created_on
    FROM ({state}) s
    JOIN crm_deal d ON d.id = s.deal_id
    JOIN crm_stage st ON st.id = s.stage_id
    JOIN crm_account a ON a.id = d.account_id
    -- only deals that close or were created in the periods computed count anywhere
    WHERE (s.close_date BETWEEN %(lo)s AND %(hi)s
           OR (d.created_at >= %(lo_at)s - interval '1 day' AND d.created_at < %(hi_at)s))
      AND (%(all_owners)s OR s.owner_id IN (SELECT owner_id FROM kpi_owners))
"""

# Every stay of a deal in a stage, from stage history before %(until)s: when it entered, when it
# left (NULL while still there), and the furthest open stage (or a won stage) it entered later.
# Stays count to the deal's owner as of %(until)s, as deals do.
STAYS = """
    SELECT x.deal_id, x.stage_id, x.owner_id, a.territory_id, d.pipeline_id, a.segment,
           d.type AS deal_type,
           (x.entered_at AT TIME ZONE %(tz)s)::date AS entered_on,
           (x.left_at AT TIME ZONE %(tz)s)::date AS left_on,
           extract(epoch FROM x.left_at - x.entered_at) / 86400 AS stay_days,
           coalesce(x.furthest_after > x.position, FALSE) AS advanced
    FROM (
        SELECT e.deal_id, e.to_stage_id AS stage_id, e.owner_id, st.position,
               e.changed_at AS entered_at,
               lead(e.changed_at) OVER stays_of_deal AS left_at,
               max(CASE WHEN st.is_won THEN 32767 WHEN st.is_lost THEN NULL
                        ELSE st.position END)
                   OVER (stays_of_deal ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
                   AS furthest_after
        FROM (
            SELECT h.id, h.deal_id, h.changed_at, h.to_stage_id,
                   lag(h.to_stage_id) OVER (PARTITION BY h.deal_id ORDER BY h.changed_at, h.id)
                       AS previous_stage_id,
                   -- the deal's owner as of the moment (its last row's), like every deal KPI
                   last_value(h.to_owner_id) OVER (
                       PARTITION BY h.deal_id ORDER BY h.changed_at, h.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS owner_id
            FROM crm_dealhistory h
            WHERE h.changed_at < %(until)s
              -- only deals with history from the first day computed on have a stay in it
              AND h.deal_id IN (
                  SELECT deal_id FROM crm_dealhistory WHERE changed_at >= %(lo_at)s)
              -- asked for some reps and teams only: deals any of their owners ever had
              AND (%(all_owners)s OR h.deal_id IN (
                  SELECT deal_id FROM crm_dealhistory
                  WHERE to_owner_id IN (SELECT owner_id FROM kpi_owners)))
        ) e
        JOIN crm_stage st ON st.id = e.to_stage_id
        WHERE e.previous_stage_id IS DISTINCT FROM e.to_stage_id
        WINDOW stays_of_deal AS (PARTITION BY e.deal_id ORDER BY e.changed_at, e.id)
    ) x
    JOIN crm_deal d ON d.id = x.deal_id
    JOIN crm_account a ON a.id = d.account_id
    WHERE %(all_owners)s OR x.owner_id IN (SELECT owner_id FROM kpi_owners)
"""

_STAY_COLUMNS = (
    "owner_id, territory_id, pipeline_id, segment, deal_type, stage_id::text AS breakdown"
)

SOURCES: dict[str, str] = {
    "closed_deals": """
        SELECT owner_id, territory_id, pipeline_id, segment, deal_type, '' AS breakdown,
               close_date AS period_date, is_won, is_lost, amount,
               close_date - created_on AS cycle_days
        FROM kpi_deals
        WHERE (is_won OR is_lost) AND close_date IS NOT NULL
    """,
    "open_deals": """
        SELECT owner_id, territory_id, pipeline_id, segment, deal_type, '' AS breakdown,
               close_date AS period_date, amount, probability
        FROM kpi_deals
        WHERE NOT (is_won OR is_lost) AND close_date IS NOT NULL
    """,
    "created_deals": """
        SELECT owner_id, territory_id, pipeline_id, segment, deal_type, '' AS breakdown,
               created_on AS period_date, amount
        FROM kpi_deals
    """,
    "stage_entries": f"""
        SELECT {_STAY_COLUMNS}, entered_on AS period_date, advanced
        FROM kpi_stays
    """,
    "stage_exits": f"""
        SELECT {_STAY_COLUMNS}, left_on AS period_date, stay_days
        FROM kpi_stays
        WHERE left_on IS NOT NULL
    """,
    "leads": """
        SELECT l.owner_id, NULL::bigint AS territory_id, NULL::bigint AS pipeline_id,
               NULL::text AS segment, NULL::text AS deal_type, '' AS breakdown,
               (l.created_at AT TIME ZONE %(tz)s)::date AS period_date,
               CASE WHEN l.first_response_at < %(until)s
                    THEN extract(epoch FROM l.first_response_at - l.created_at) / 3600
               END AS response_hours
        FROM crm_lead l
        WHERE l.created_at < %(until)s
          AND (%(all_owners)s OR l.owner_id IN (SELECT owner_id FROM kpi_owners))
    """,
    "meetings": """
        SELECT t.owner_id, a.territory_id, NULL::bigint AS pipeline_id, a.segment,
               NULL::text AS deal_type, '' AS breakdown,
               (t.done_at AT TIME ZONE %(tz)s)::date AS period_date
        FROM crm_activity t
        LEFT JOIN crm_deal d ON d.id = t.deal_id
        -- the activity's account, or its deal's
        LEFT JOIN crm_account a ON a.id = coalesce(t.account_id, d.account_id)
        WHERE t.kind IN ('meeting', 'demo') AND t.done_at < %(until)s
          AND (%(all_owners)s OR t.owner_id IN (SELECT owner_id FROM kpi_owners))
    """,
    # Reps' monthly quotas of published plans. Plans are made in the corporate currency; one
    # made before the corporate currency changed is converted as deals are, at the rate in force
    # on the quota's first day. Plan data, not history: as of any day they are the quotas as
    # they are now. Team and territory quotas are not facts: teams sum their reps' (bottom-up),
    # and territory attainment is the territories app's. No pipeline, segment or deal type:
    # quotas are never filtered.
    "quotas": """
        SELECT q.user_id AS owner_id, NULL::bigint AS territory_id, NULL::bigint AS pipeline_id,
               NULL::text AS segment, NULL::text AS deal_type, '' AS breakdown,
               q.period_start AS period_date,
               CASE WHEN p.currency = %(corporate)s THEN q.amount
                    ELSE q.amount * (
                        SELECT r.rate FROM org_exchangerate r
                        WHERE r.currency = p.currency AND r.valid_from <= q.period_start
                        ORDER BY r.valid_from DESC LIMIT 1)
               END AS amount
        FROM territories_quota q
        JOIN territories_quotaplan p ON p.id = q.plan_id
        WHERE p.status = 'published' AND q.period_kind = 'month' AND q.user_id IS NOT NULL
          AND (%(all_owners)s OR q.user_id IN (SELECT owner_id FROM kpi_owners))
    """,
}

# Which of the shared tables (computed once per run) a source reads.
NEEDS: dict[str, str | None] = {
    "closed_deals": "kpi_deals",
    "open_deals": "kpi_deals",
    "created_deals": "kpi_deals",
    "stage_entries": "kpi_stays",
    "stage_exits": "kpi_stays",
    "leads": None,
    "meetings": None,
    "quotas": None,
}

# Each team with every team above it (itself too), as a recursive CTE ``team_up``.
_TEAM_UP = """
    WITH RECURSIVE team_up(team_id, ancestor_id) AS (
        SELECT id, id FROM org_team
        UNION ALL
        SELECT u.team_id, t.parent_id FROM team_up u JOIN org_team t ON t.id = u.ancestor_id
        WHERE t.parent_id IS NOT NULL
    )
"""

# Each owner's own team: their rep profile's, or for a user without one the lowest-id team they
# manage. Teams as they are now.
HOME_TEAMS = """
    SELECT u.id AS owner_id, coalesce(rp.team_id, m.team_id) AS team_id
    FROM org_user u
    LEFT JOIN org_repprofile rp ON rp.user_id = u.id
    LEFT JOIN (
        SELECT manager_id, min(id) AS team_id FROM org_team
        WHERE manager_id IS NOT NULL GROUP BY manager_id
    ) m ON m.manager_id = u.id
"""

TEAMS_UP = _TEAM_UP + "SELECT team_id, ancestor_id FROM team_up"

# Each territory with every territory above it (itself too): figures of a territory roll up to
# its parents (Americas › US West › NorCal). Territory ids unknown to the table (none in
# practice) count for themselves alone.
TERRITORIES_UP = """
    WITH RECURSIVE territory_up(territory_id, ancestor_id) AS (
        SELECT id, id FROM territories_territory
        UNION ALL
        SELECT u.territory_id, t.parent_id FROM territory_up u
        JOIN territories_territory t ON t.id = u.ancestor_id
        WHERE t.parent_id IS NOT NULL
    )
    SELECT territory_id, ancestor_id FROM territory_up
"""

# Who counts in which team: the owner's own team and every team above it.
OWNER_TEAMS = (
    _TEAM_UP
    + f""", home_team AS MATERIALIZED ({HOME_TEAMS})
    SELECT h.owner_id, u.ancestor_id AS team_id
    FROM home_team h JOIN team_up u ON u.team_id = h.team_id
"""
)

# Active reps per scope, the denominator of "per rep" KPIs.
HEADCOUNT = (
    _TEAM_UP
    + """,
    reps AS (
        SELECT rp.user_id, rp.team_id FROM org_repprofile rp
        JOIN org_user u ON u.id = rp.user_id
        WHERE rp.active AND u.is_active
    )
    SELECT 'rep' AS scope_kind, user_id AS scope_id, 1 AS reps FROM reps
    UNION ALL
    SELECT 'team', u.ancestor_id, count(*) FROM reps r JOIN team_up u ON u.team_id = r.team_id
    GROUP BY u.ancestor_id
    UNION ALL
    SELECT 'company', 0, count(*) FROM reps
"""
)
