"""Mark every owner of a changed deal on every day its figures sit on.

Stage figures count to the deal's owner as of the moment (like every deal KPI), so a reassigned
deal moves its stage entries and stays, on their own days, from the old owner to the new one;
and a meeting logged on a deal alone counts to its deal's account territory.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION reporting_mark_deal_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT o.owner_id, m.day, a.territory_id, now()
    FROM (SELECT DISTINCT deal_id FROM new_rows) c
    JOIN crm_deal d ON d.id = c.deal_id
    JOIN crm_account a ON a.id = d.account_id
    -- everyone who owned the deal before or after these rows ...
    JOIN LATERAL (
        SELECT n.to_owner_id AS owner_id FROM new_rows n WHERE n.deal_id = c.deal_id
        UNION
        SELECT n.from_owner_id FROM new_rows n
        WHERE n.deal_id = c.deal_id AND n.from_owner_id IS NOT NULL
    ) o ON TRUE
    -- ... on every day its figures can sit on: close dates, creation, each stay's start or end
    JOIN LATERAL (
        SELECT n.to_close_date AS day FROM new_rows n WHERE n.deal_id = c.deal_id
        UNION
        SELECT n.from_close_date FROM new_rows n WHERE n.deal_id = c.deal_id
        UNION
        SELECT (t.moment + s.shift)::date
        FROM (SELECT h.changed_at AS moment FROM crm_dealhistory h WHERE h.deal_id = c.deal_id
              UNION SELECT d.created_at) t
        CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift)
    ) m ON m.day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION reporting_mark_activities() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT n.owner_id, (n.done_at + shift)::date, a.territory_id, now()
    FROM new_rows n
    LEFT JOIN crm_deal d ON d.id = n.deal_id
    LEFT JOIN crm_account a ON a.id = coalesce(n.account_id, d.account_id)
    CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift)
    WHERE n.done_at IS NOT NULL AND n.kind IN ('meeting', 'demo');
    RETURN NULL;
END $$;
"""

# Back to the functions of 0002.
REVERSE = """
CREATE OR REPLACE FUNCTION reporting_mark_deal_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT m.owner_id, m.day, a.territory_id, now()
    FROM (
        SELECT n.deal_id, n.to_owner_id AS owner_id, n.to_close_date AS day FROM new_rows n
        UNION ALL SELECT n.deal_id, n.from_owner_id, n.from_close_date FROM new_rows n
        UNION ALL
        SELECT h.deal_id, h.to_owner_id, (h.changed_at + shift)::date
        FROM crm_dealhistory h
        CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift)
        WHERE h.deal_id IN (SELECT deal_id FROM new_rows)
    ) m
    JOIN crm_deal d ON d.id = m.deal_id
    JOIN crm_account a ON a.id = d.account_id
    WHERE m.day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION reporting_mark_activities() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT n.owner_id, (n.done_at + shift)::date, a.territory_id, now()
    FROM new_rows n
    LEFT JOIN crm_account a ON a.id = n.account_id
    CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift)
    WHERE n.done_at IS NOT NULL AND n.kind IN ('meeting', 'demo');
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("reporting", "0003_saved_reports")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
