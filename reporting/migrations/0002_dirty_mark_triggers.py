"""Database triggers that mark which owners and days need their KPIs recomputed.

Statement-level triggers with transition tables: one insert of marks per statement, however many
rows it wrote (imports and bulk loads included). A timestamp is marked as the dates 14 hours
either side of it, which covers whatever time zone the organisation reports in.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION reporting_mark_deal_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT m.owner_id, m.day, a.territory_id, now()
    FROM (
        -- the changed deals' close dates before and after, and every day a stay of theirs
        -- began (its conversion may have changed) or ended, creation included
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

CREATE TRIGGER reporting_mark_deal_history
AFTER INSERT ON crm_dealhistory REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_deal_history();

CREATE FUNCTION reporting_mark_leads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT n.owner_id, (n.created_at + shift)::date, NULL::bigint, now()
    FROM new_rows n
    CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift);
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_leads_insert
AFTER INSERT ON crm_lead REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_leads();

CREATE TRIGGER reporting_mark_leads_update_new
AFTER UPDATE ON crm_lead REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_leads();

CREATE TRIGGER reporting_mark_leads_update_old
AFTER UPDATE ON crm_lead REFERENCING OLD TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_leads();

CREATE FUNCTION reporting_mark_activities() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT n.owner_id, (n.done_at + shift)::date, a.territory_id, now()
    FROM new_rows n
    LEFT JOIN crm_account a ON a.id = n.account_id
    CROSS JOIN (VALUES (interval '-14 hours'), (interval '14 hours')) AS s(shift)
    WHERE n.done_at IS NOT NULL AND n.kind IN ('meeting', 'demo');
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_activities_insert
AFTER INSERT ON crm_activity REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_activities();

CREATE TRIGGER reporting_mark_activities_update_new
AFTER UPDATE ON crm_activity REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_activities();

CREATE TRIGGER reporting_mark_activities_update_old
AFTER UPDATE ON crm_activity REFERENCING OLD TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_activities();

CREATE TRIGGER reporting_mark_activities_delete
AFTER DELETE ON crm_activity REFERENCING OLD TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_activities();

-- An account moving territory changes the territory scope of all its deals.
CREATE FUNCTION reporting_mark_account_territory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT h.to_owner_id, m.day, m.territory_id, now()
    FROM old_rows o
    JOIN new_rows n ON n.id = o.id
    JOIN crm_deal d ON d.account_id = n.id
    JOIN crm_dealhistory h ON h.deal_id = d.id
    CROSS JOIN LATERAL (VALUES
        (h.to_close_date, o.territory_id), (h.to_close_date, n.territory_id),
        ((h.changed_at - interval '14 hours')::date, o.territory_id),
        ((h.changed_at + interval '14 hours')::date, n.territory_id)
    ) AS m(day, territory_id)
    WHERE o.territory_id IS DISTINCT FROM n.territory_id AND m.day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_account_territory
AFTER UPDATE ON crm_account REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_account_territory();
"""

REVERSE = """
DROP TRIGGER IF EXISTS reporting_mark_account_territory ON crm_account;
DROP FUNCTION IF EXISTS reporting_mark_account_territory();
DROP TRIGGER IF EXISTS reporting_mark_activities_delete ON crm_activity;
DROP TRIGGER IF EXISTS reporting_mark_activities_update_old ON crm_activity;
DROP TRIGGER IF EXISTS reporting_mark_activities_update_new ON crm_activity;
DROP TRIGGER IF EXISTS reporting_mark_activities_insert ON crm_activity;
DROP FUNCTION IF EXISTS reporting_mark_activities();
DROP TRIGGER IF EXISTS reporting_mark_leads_update_old ON crm_lead;
DROP TRIGGER IF EXISTS reporting_mark_leads_update_new ON crm_lead;
DROP TRIGGER IF EXISTS reporting_mark_leads_insert ON crm_lead;
DROP FUNCTION IF EXISTS reporting_mark_leads();
DROP TRIGGER IF EXISTS reporting_mark_deal_history ON crm_dealhistory;
DROP FUNCTION IF EXISTS reporting_mark_deal_history();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_kpi_snapshots"),
        ("crm", "0006_history_probability"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
