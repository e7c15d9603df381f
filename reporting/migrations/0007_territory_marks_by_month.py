"""Account territory moves marked by territory and month, in linear time.

A territory plan going live moves every account at once (200k rows on the large org); the old
trigger joined each moved account's whole stage history and took minutes. Now each pair of old
and new territories is marked once per month from its accounts' earliest deal date (creation,
close date, close) to their latest (or today). Snapshots are figures as of now, and a deal's stays
and stage moves all lie between its creation and its close (or now), so these months hold every
figure the move can change: a superset of the days the old trigger marked (periods are whole months,
so a mark on the 1st covers the same periods), with no owner, since deal owners do not change.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION reporting_mark_account_territory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        SELECT n.id, o.territory_id AS old_territory, n.territory_id AS new_territory
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.territory_id IS DISTINCT FROM n.territory_id
    ), spans AS (
        SELECT m.old_territory, m.new_territory,
               min(least(d.created_at::date, d.close_date, d.closed_at::date)) AS first_day,
               max(greatest(d.close_date, d.closed_at::date, current_date)) AS last_day
        FROM moved m JOIN crm_deal d ON d.account_id = m.id
        GROUP BY m.old_territory, m.new_territory
    ), territory_spans AS (
        SELECT t.territory_id, min(s.first_day) AS first_day, max(s.last_day) AS last_day
        FROM spans s
        CROSS JOIN LATERAL (VALUES (s.old_territory), (s.new_territory)) AS t(territory_id)
        WHERE t.territory_id IS NOT NULL
        GROUP BY t.territory_id
    )
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT NULL, month::date, s.territory_id, now()
    FROM territory_spans s
    CROSS JOIN LATERAL generate_series(
        date_trunc('month', s.first_day - 1), date_trunc('month', s.last_day + 1), interval '1 month'
    ) AS month;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("reporting", "0006_dirty_marks_linear")]

    # Going back leaves this function in place: it marks a superset of 0002's periods.
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
