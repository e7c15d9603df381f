"""Scheduled report emails: when schedules are due (org time zone, clock changes, short months),
who may receive them, what the email holds, one send per due time even with two runs at once,
failures recorded without holding up the others, and the send task on a real Celery worker."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connections
from django.test import override_settings
from openpyxl import load_workbook

from reporting.delivery import next_due, report_deliveries_send_due, report_schedule_save
from reporting.models import ReportDelivery, ReportSchedule, SavedReport
from reporting.reports import saved_report_save
from reporting.tasks import report_deliveries_send
from salesops.celery import app
from salesops.errors import DomainError
from salesops.org.models import RepProfile, User
from tests.celery_processes import celery_worker
from tests.conftest import fresh

UTC = dt.UTC
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def east_pipeline(org, **fields) -> SavedReport:
    """Manager East's deal amounts by rep for last month (relative to the day it is sent)."""
    values = {"name": "East pipeline", "measure": "deals:amount", "group_by": "rep",
              "period": "last_month", **fields}  # fmt: skip
    return saved_report_save(acting_user=fresh(org.manager_east), **values)


def weekly(report, *, now="2026-04-01T10:00", **fields) -> ReportSchedule:
    values = {"frequency": "weekly", "weekday": 0, "hour": 8, "format": "xlsx", **fields}
    return report_schedule_save(acting_user=fresh(report.owner), report=report, now=at(now),
                                **values)  # fmt: skip


# --- When a schedule is due -------------------------------------------------------------------


def test_next_due_daily_weekly_and_monthly():
    assert next_due(frequency="daily", hour=8, after=at("2026-03-02T07:00")) == at(
        "2026-03-02T08:00"
    )
    assert next_due(frequency="daily", hour=8, after=at("2026-03-02T08:00")) == at(
        "2026-03-03T08:00"
    )
    # Wednesday 4 March → Monday 9 March.
    assert next_due(frequency="weekly", hour=8, weekday=0, after=at("2026-03-04T12:00")) == at(
        "2026-03-09T08:00"
    )
    # Day 31 is the last day of shorter months (February 2026 has 28).
    assert next_due(frequency="monthly", hour=6, day_of_month=31,
                    after=at("2026-02-01T00:00")) == at("2026-02-28T06:00")  # fmt: skip
    assert next_due(frequency="monthly", hour=6, day_of_month=31,
                    after=at("2026-02-28T06:00")) == at("2026-03-31T06:00")  # fmt: skip


@override_settings(TIME_ZONE="America/New_York")
def test_hours_are_in_the_org_time_zone_across_clock_changes():
    # 8:00 in New York is 13:00 UTC in winter and 12:00 after the clocks move on 8 March 2026.
    assert next_due(frequency="weekly", hour=8, weekday=0, after=at("2026-02-26T00:00")) == at(
        "2026-03-02T13:00"
    )
    assert next_due(frequency="weekly", hour=8, weekday=0, after=at("2026-03-03T00:00")) == at(
        "2026-03-09T12:00"
    )
    # 2:00 does not exist on 8 March in New York: sent an hour later (3:00 EDT = 7:00 UTC).
    assert next_due(frequency="daily", hour=2, after=at("2026-03-08T05:00")) == at(
        "2026-03-08T07:00"
    )


def test_schedule_gets_its_next_due_time(org):
    schedule = weekly(east_pipeline(org), recipients=[org.rep_east])
    assert schedule.next_run_at == at("2026-04-06T08:00")  # the Monday after Wednesday 1 April
    assert list(schedule.recipients.all()) == [org.rep_east]
    paused = report_schedule_save(acting_user=fresh(org.manager_east), report=schedule.report,
                                  schedule=schedule, frequency="daily", hour=7, active=False)  # fmt: skip
    assert (paused.next_run_at, paused.weekday, paused.frequency) == (None, None, "daily")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"weekday": None}, "weekday", "A weekly schedule needs a weekday (Monday to Sunday)."),
        ({"frequency": "monthly"}, "day_of_month",
         "A monthly schedule needs a day of the month (1–31)."),
        ({"hour": 24}, "hour", "The hour must be between 0 and 23."),
        ({"format": "pdf"}, "format", "'pdf' is not a file format: use xlsx or csv."),
    ],
)  # fmt: skip
def test_bad_schedules_are_refused_naming_the_field(org, fields, field, message):
    report = east_pipeline(org)
    with pytest.raises(DomainError) as refused:
        weekly(report, **fields)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert not ReportSchedule.objects.exists()


def test_reports_only_go_to_people_in_the_owners_scope(client, org):
    report = east_pipeline(org)
    with pytest.raises(DomainError) as refused:
        weekly(report, recipients=[org.rep_east, org.rep_london])
    assert refused.value.field == "recipients"
    assert refused.value.message == (
        f"You can only send reports to active people in your teams, not to {org.rep_london}."
    )
    assert not ReportSchedule.objects.exists()
    # The page offers only them, and shows the same refusal on the field.
    client.force_login(org.manager_east)
    page = client.get(f"/reports/saved/{report.pk}/schedules/new/")
    offered = set(page.context["form"].fields["recipients"].queryset)
    assert org.rep_east in offered and org.rep_east_2 in offered
    assert org.rep_london not in offered and org.manager_east not in offered
    response = client.post(f"/reports/saved/{report.pk}/schedules/new/",
                           {"frequency": "weekly", "hour": "8", "format": "xlsx",
                            "active": "on"})  # fmt: skip
    assert response.context["form"].errors == {
        "weekday": ["A weekly schedule needs a weekday (Monday to Sunday)."]
    }
    response = client.post(f"/reports/saved/{report.pk}/schedules/new/",
                           {"frequency": "weekly", "weekday": "0", "hour": "8", "format": "csv",
                            "recipients": [org.rep_east.pk], "active": "on"})  # fmt: skip
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert (schedule.format, list(schedule.recipients.all())) == ("csv", [org.rep_east])
    # Only the owner schedules a report (a shared one is copied first).
    client.force_login(org.rep_east)
    assert client.get(f"/reports/saved/{report.pk}/schedules/new/").status_code == 404


# --- Sending ----------------------------------------------------------------------------------


def test_a_due_schedule_is_emailed_once_with_summary_and_attachment(book):
    org = book
    schedule = weekly(east_pipeline(org), recipients=[org.rep_east])
    assert report_deliveries_send_due(now=at("2026-04-06T07:59")) == []  # not due yet
    assert mail.outbox == []

    [delivery] = report_deliveries_send_due(now=at("2026-04-06T08:02"))
    [message] = mail.outbox
    assert message.subject == "East pipeline · FY2026 M3"  # last month, on 6 April
    assert message.to == [org.manager_east.email, org.rep_east.email]
    # The owner's scope: East's reps only (rep_west's lost deal is another team's).
    assert "Rep" in message.body and f"{org.rep_east.get_full_name()}" in message.body
    assert "6,100.00" in message.body and "3,000.00" in message.body and "Total" in message.body
    assert org.rep_west.get_full_name() not in message.body
    [(html, kind)] = message.alternatives
    assert kind == "text/html"
    assert f'<td>{org.rep_east.get_full_name()}</td><td align="right">6,100.00</td>' in html
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == ("east-pipeline-2026-04-06.xlsx", XLSX)
    sheet = load_workbook(io.BytesIO(content)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["Rep", "Deal amount (USD)"],
        [org.rep_east.get_full_name(), 6100],
        [org.rep_east_2.get_full_name(), 3000],
    ]
    assert (delivery.status, delivery.rows, delivery.error) == ("sent", 2, "")
    assert delivery.recipients == [org.manager_east.email, org.rep_east.email]
    assert delivery.due_at == at("2026-04-06T08:00")
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2026-04-13T08:00")

    assert report_deliveries_send_due(now=at("2026-04-06T08:05")) == []  # a second run: nothing
    assert len(mail.outbox) == 1
    assert ReportDelivery.objects.count() == 1


def test_csv_attachment_is_formula_safe_and_keeps_cents(book, accounts, pipeline):
    org = book
    type(org.rep_east_2).objects.filter(pk=org.rep_east_2.pk).update(first_name="@SUM(A1:A9)")
    report = east_pipeline(org, measure="deals:weighted_pipeline")
    weekly(report, format="csv")
    report_deliveries_send_due(now=at("2026-04-06T08:00"))
    [(filename, content, mimetype)] = mail.outbox[0].attachments
    assert (filename, mimetype) == ("east-pipeline-2026-04-06.csv", "text/csv")
    assert content.lstrip("\ufeff").splitlines() == [
        "Rep,Weighted open pipeline (USD)",
        f"{org.rep_east.get_full_name()},2220.00",
    ]
    report = east_pipeline(org, name="Won by rep", measure="deals:won_amount")
    weekly(report, format="csv")
    report_deliveries_send_due(now=at("2026-04-06T08:00"))
    assert f"'@SUM(A1:A9) {org.rep_east_2.last_name},3000.00" in mail.outbox[1].attachments[0][1]


def test_a_failing_report_is_recorded_and_the_others_still_go_out(book):
    org = book
    broken = weekly(east_pipeline(org, name="Retired KPI"))
    # The KPI it measured was renamed after it was saved.
    SavedReport.objects.filter(pk=broken.report_id).update(measure="kpi:retired")
    west = saved_report_save(acting_user=fresh(org.manager_west), name="West", measure="deals:count",
                             group_by="rep", period="last_month")  # fmt: skip
    nobody = weekly(west)
    User.objects.filter(pk=org.manager_west.pk).update(email="")  # since it was scheduled
    working = weekly(east_pipeline(org, name="Working"), hour=9)

    report_deliveries_send_due(now=at("2026-04-06T10:00"))
    outcome = {d.schedule.report.name: (d.status, d.error) for d in ReportDelivery.objects.all()}
    assert outcome == {
        "Retired KPI": ("failed", "'kpi:retired' is not a measure: pick a KPI (kpi:bookings), a "
                                  "deal measure (deals:count) or an activity measure "
                                  "(activities:meeting)."),
        "West": ("failed", "Nobody to send to: neither the owner nor a recipient has an email "
                           "address."),
        "Working": ("sent", ""),
    }  # fmt: skip
    assert [m.subject for m in mail.outbox] == ["Working · FY2026 M3"]
    next_times = {}
    for schedule in (broken, nobody, working):
        schedule.refresh_from_db()
        next_times[schedule.report.name] = schedule.next_run_at
    assert next_times == {
        "Retired KPI": at("2026-04-13T08:00"), "West": at("2026-04-13T08:00"),
        "Working": at("2026-04-13T09:00"),
    }  # fmt: skip
    page_owner = fresh(org.manager_east)
    from django.test import Client

    client = Client()
    client.force_login(page_owner)
    page = client.get(f"/reports/saved/{broken.report_id}/").content.decode()
    assert "This report cannot run: &#x27;kpi:retired&#x27; is not a measure" in page
    assert "Failed" in page


def test_someone_who_left_the_owners_teams_stops_receiving_it(book):
    org = book
    weekly(east_pipeline(org), recipients=[org.rep_east, org.rep_east_2])
    RepProfile.objects.filter(user=org.rep_east_2).update(team=org.london)
    report_deliveries_send_due(now=at("2026-04-06T08:00"))
    assert mail.outbox[0].to == [org.manager_east.email, org.rep_east.email]


class SlowBackend(EmailBackend):
    """The test mailbox, slow to send, and saying when a send has begun."""

    sending = threading.Event()

    def send_messages(self, messages):
        SlowBackend.sending.set()
        time.sleep(1.5)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND="tests.reporting.test_delivery.SlowBackend")
def test_two_runs_at_once_send_each_due_schedule_once(org, pipeline, accounts):
    weekly(east_pipeline(org, period="all"))
    SlowBackend.sending.clear()
    results: dict[str, list] = {}

    def send(name: str) -> None:
        try:
            results[name] = report_deliveries_send_due(now=at("2026-04-06T08:00"))
        finally:
            connections.close_all()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert SlowBackend.sending.wait(timeout=30)  # the first run holds the schedule and sends
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second.join(timeout=30)
    first.join(timeout=30)
    assert results["second"] == []  # the locked schedule was skipped, not waited for
    assert [d.status for d in results["first"]] == ["sent"]
    assert len(mail.outbox) == 1
    assert ReportDelivery.objects.count() == 1


# --- The task -----------------------------------------------------------------------------------


def test_the_send_task_runs_every_few_minutes_on_the_default_queue():
    entry = app.conf.beat_schedule["report-deliveries-send"]
    assert entry["task"] == report_deliveries_send.name == "reporting.tasks.report_deliveries_send"
    assert entry["options"] == {"queue": "default"} and entry["schedule"] <= 600
    # Its own route wins over reporting.tasks.* (the kpi queue), for .delay() too.
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "default"
    assert app.amqp.router.route(dict(entry["options"]), entry["task"])["queue"].name == "default"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_due_reports(org, pipeline, accounts, tmp_path, monkeypatch):
    # The worker is another process: it writes its mails to files the test reads.
    monkeypatch.setenv(
        "SALESOPS_TEST_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
    )
    monkeypatch.setenv("EMAIL_FILE_PATH", str(tmp_path))
    from crm.services import deal_create

    deal_create(acting_user=fresh(org.rep_east), account=accounts[org.rep_east], name="Worker",
                amount=Decimal("1234.50"), close_date=dt.date(2026, 3, 9))  # fmt: skip
    report = east_pipeline(org, period="custom", period_from="2026-M03")
    schedule = weekly(report, now="2026-01-01T00:00", format="csv", recipients=[org.rep_east_2])
    with celery_worker():
        report_deliveries_send.apply_async(queue="default")
        report_deliveries_send.apply_async(queue="default")  # a second run finds nothing due
        deadline = time.monotonic() + 60
        while not ReportDelivery.objects.exists() or not list(tmp_path.glob("*.log")):
            assert time.monotonic() < deadline, "the worker did not send the report"
            time.sleep(0.3)
        time.sleep(1)  # let the second run finish
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.rows, delivery.error) == ("sent", 1, "")
    assert delivery.recipients == [org.manager_east.email, org.rep_east_2.email]
    schedule.refresh_from_db()
    assert schedule.next_run_at > dt.datetime.now(UTC)
    [log] = tmp_path.glob("*.log")
    message = email.message_from_bytes(_first_message(log), policy=email.policy.default)
    assert str(message["Subject"]) == "East pipeline · FY2026 M3"
    assert str(message["To"]) == f"{org.manager_east.email}, {org.rep_east_2.email}"
    [attachment] = [p for p in message.walk() if p.get_filename()]
    assert attachment.get_filename().endswith(".csv")
    text = attachment.get_payload(decode=True).decode("utf-8-sig")
    assert text.splitlines() == ["Rep,Deal amount (USD)", f"{org.rep_east.get_full_name()},1234.50"]


def _first_message(log: Path) -> bytes:
    """The file backend writes each message followed by a line of 79 dashes."""
    return log.read_bytes().split(b"\n" + b"-" * 79 + b"\n")[0]
