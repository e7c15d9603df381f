"""Deal-history marks in linear time: set-based joins instead of a scan of the statement's new
rows per changed deal (an import's batch of thousands of rows took seconds)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION reporting_mark_deal_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (SELECT DISTINCT deal_id FROM new_rows),
    shifts(shift) AS (VALUES (interval '-14 hours'), (interval '14 hours')),
    -- everyone who owned a changed deal before or after these rows ...
    owners AS (
        SELECT deal_id, to_owner_id AS owner_id FROM new_rows
        UNION
        SELECT deal_id, from_owner_id FROM new_rows WHERE from_owner_id IS NOT NULL
    ),
    -- ... on every day its figures can sit on: close dates, creation, each stay's start or end
    days AS (
        SELECT deal_id, to_close_date AS day FROM new_rows
        UNION
        SELECT deal_id, from_close_date FROM new_rows
        UNION
        SELECT h.deal_id, (h.changed_at + s.shift)::date
        FROM crm_dealhistory h JOIN changed c ON c.deal_id = h.deal_id CROSS JOIN shifts s
        UNION
        SELECT d.id, (d.created_at + s.shift)::date
        FROM crm_deal d JOIN changed c ON c.deal_id = d.id CROSS JOIN shifts s
    )
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT o.owner_id, y.day, a.territory_id, now()
    FROM owners o
    JOIN days y ON y.deal_id = o.deal_id
    JOIN crm_deal d ON d.id = o.deal_id
    JOIN crm_account a ON a.id = d.account_id
    WHERE y.day IS NOT NULL;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("reporting", "0005_snapshot_writes_only_changes")]

    # Going back leaves this function in place: it marks the same owners and days as 0004's.
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
