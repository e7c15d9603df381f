"""Quota changes marked by rep and month, for the quota KPIs.

The ``quota`` KPI sums the reps' monthly quotas of published plans, so a change marks (rep, the
quota's month) when a monthly rep quota of a published plan is inserted, changed or deleted, and
for every monthly rep quota of a plan whose status goes to or from published. Statement-level
triggers with transition tables, joined set-based: linear in the rows the statement wrote (an
allocation writes thousands at once; those of a draft plan mark nothing).
"""

from django.db import migrations

SQL = """
-- Inserted or deleted quotas (the same function reads either as changed_rows).
CREATE FUNCTION reporting_mark_quotas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT q.user_id, q.period_start, NULL::bigint, now()
    FROM changed_rows q
    LEFT JOIN territories_quotaplan p ON p.id = q.plan_id
    WHERE q.period_kind = 'month' AND q.user_id IS NOT NULL
      -- a plan deleted in the same statement may have been published
      AND (p.id IS NULL OR p.status = 'published');
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_quotas_insert
AFTER INSERT ON territories_quota REFERENCING NEW TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_quotas();

CREATE TRIGGER reporting_mark_quotas_delete
AFTER DELETE ON territories_quota REFERENCING OLD TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_quotas();

-- Updated quotas: the rows whose plan, period, rep or amount changed, before and after.
CREATE FUNCTION reporting_mark_quota_updates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.plan_id, o.period_kind, o.period_start, o.user_id, o.amount)
              IS DISTINCT FROM (n.plan_id, n.period_kind, n.period_start, n.user_id, n.amount)
    ), versions AS (
        SELECT o.plan_id, o.period_kind, o.period_start, o.user_id
        FROM old_rows o JOIN changed c ON c.id = o.id
        UNION
        SELECT n.plan_id, n.period_kind, n.period_start, n.user_id
        FROM new_rows n JOIN changed c ON c.id = n.id
    )
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT v.user_id, v.period_start, NULL::bigint, now()
    FROM versions v
    JOIN territories_quotaplan p ON p.id = v.plan_id
    WHERE v.period_kind = 'month' AND v.user_id IS NOT NULL AND p.status = 'published';
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_quota_updates
AFTER UPDATE ON territories_quota REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_quota_updates();

-- A plan published or taken back: all its monthly rep quotas start or stop counting.
CREATE FUNCTION reporting_mark_quota_plans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reporting_kpidirtymark (owner_id, day, territory_id, marked_at)
    SELECT DISTINCT q.user_id, q.period_start, NULL::bigint, now()
    FROM old_rows o
    JOIN new_rows n ON n.id = o.id
    JOIN territories_quota q ON q.plan_id = n.id
    WHERE (o.status = 'published') IS DISTINCT FROM (n.status = 'published')
      AND q.period_kind = 'month' AND q.user_id IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER reporting_mark_quota_plans
AFTER UPDATE ON territories_quotaplan REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_quota_plans();
"""

REVERSE = """
DROP TRIGGER IF EXISTS reporting_mark_quota_plans ON territories_quotaplan;
DROP FUNCTION IF EXISTS reporting_mark_quota_plans();
DROP TRIGGER IF EXISTS reporting_mark_quota_updates ON territories_quota;
DROP FUNCTION IF EXISTS reporting_mark_quota_updates();
DROP TRIGGER IF EXISTS reporting_mark_quotas_delete ON territories_quota;
DROP TRIGGER IF EXISTS reporting_mark_quotas_insert ON territories_quota;
DROP FUNCTION IF EXISTS reporting_mark_quotas();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0007_territory_marks_by_month"),
        ("territories", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
