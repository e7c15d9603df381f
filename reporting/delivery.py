"""Scheduled delivery of saved reports by email: schedules, when they are due, and sending.

A schedule says daily, weekly on a weekday or monthly on a day, at an hour of the org time zone
(``settings.TIME_ZONE``), to the report's owner and chosen people, as XLSX or CSV. The beat task
``reporting.tasks.report_deliveries_send`` calls ``report_deliveries_send_due`` every few minutes:
each due schedule is locked (``SELECT … FOR UPDATE SKIP LOCKED``), run with the **owner's**
visibility, emailed (a summary of the top rows inline, every row attached), recorded as a
``ReportDelivery`` and moved on to its next due time, all in one transaction per schedule. A
second run at the same time skips the locked schedule, and a delivery row per schedule and due
time (unique) makes a repeat impossible. A failure is recorded on its delivery row and the
schedule still moves on, so one broken report never holds up the others. Runs missed while no
worker was up are not caught up: the report goes out once, and the next time is after now.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from reporting import reports
from reporting.models import (
    ReportDelivery,
    ReportFormat,
    ReportFrequency,
    ReportSchedule,
    SavedReport,
)
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User

logger = logging.getLogger(__name__)

SUMMARY_ROWS = 10  # rows of the inline summary; the attachment has them all
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def org_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def next_due(
    *,
    frequency: str,
    hour: int,
    after: dt.datetime,
    weekday: int | None = None,
    day_of_month: int | None = None,
) -> dt.datetime:
    """The first moment after ``after`` the schedule is due: ``hour``:00 in the org time zone on
    every day, on ``weekday`` (0 = Monday) or on ``day_of_month`` (the month's last day when it
    is shorter). An hour the clocks skip that day is sent an hour later."""
    zone = org_zone()
    day = after.astimezone(zone).date()
    for offset in range(0, 63):
        candidate_day = day + dt.timedelta(days=offset)
        if not _is_due_day(candidate_day, frequency, weekday, day_of_month):
            continue
        local = dt.datetime.combine(candidate_day, dt.time(hour), tzinfo=zone)
        moment = local.astimezone(dt.UTC)  # fold 0: a skipped hour lands an hour later
        if moment > after:
            return moment
    raise ValueError(f"No due day for {frequency} schedule within two months.")


def _is_due_day(day: dt.date, frequency: str, weekday: int | None, day_of_month: int | None):
    if frequency == ReportFrequency.DAILY:
        return True
    if frequency == ReportFrequency.WEEKLY:
        return day.weekday() == weekday
    if frequency == ReportFrequency.MONTHLY:
        last = month_calendar.monthrange(day.year, day.month)[1]
        return day.day == min(day_of_month, last)
    raise ValueError(f"Unknown frequency '{frequency}'.")


def schedule_next_due(schedule: ReportSchedule, *, after: dt.datetime) -> dt.datetime:
    return next_due(
        frequency=schedule.frequency, hour=schedule.hour, after=after,
        weekday=schedule.weekday, day_of_month=schedule.day_of_month,
    )  # fmt: skip


def describe(schedule: ReportSchedule) -> str:
    """In words: "Every Monday at 08:00 (Europe/Paris)"."""
    at = f"at {schedule.hour:02d}:00 ({settings.TIME_ZONE})"
    if schedule.frequency == ReportFrequency.WEEKLY:
        return f"Every {WEEKDAYS[schedule.weekday]} {at}"
    if schedule.frequency == ReportFrequency.MONTHLY:
        return f"Monthly on day {schedule.day_of_month} {at}"
    return f"Every day {at}"


# --- Services ---------------------------------------------------------------------------------


def recipient_choices(owner: User):
    """People ``owner`` may send their reports to: active people in their own scope (the email
    carries the owner's figures, so it never goes beyond whom the owner can see)."""
    return User.objects.visible_to(owner).filter(is_active=True).exclude(pk=owner.pk)


def report_schedule_save(
    *,
    acting_user: User,
    report: SavedReport,
    schedule: ReportSchedule | None = None,
    frequency: str,
    hour: int,
    weekday: int | None = None,
    day_of_month: int | None = None,
    format: str = ReportFormat.XLSX,
    recipients: Iterable[User] = (),
    active: bool = True,
    now: dt.datetime | None = None,
) -> ReportSchedule:
    """Add a schedule to one of ``acting_user``'s reports, or change one; its next due time is
    worked out from now."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="report_schedule"):
        if report.owner_id != acting_user.pk:
            raise NotAllowed("Only the report's owner may schedule it: copy it to make your own.")
        recipients = list(recipients)
        _check_schedule(acting_user, frequency, hour, weekday, day_of_month, format, recipients)
        if schedule is None:
            schedule = ReportSchedule(report=report)
        elif schedule.report_id != report.pk:
            raise NotAllowed("This schedule belongs to another report.")
        schedule.frequency, schedule.hour, schedule.format = frequency, hour, format
        schedule.weekday = weekday if frequency == ReportFrequency.WEEKLY else None
        schedule.day_of_month = day_of_month if frequency == ReportFrequency.MONTHLY else None
        schedule.active = active
        schedule.next_run_at = (
            schedule_next_due(schedule, after=now or timezone.now()) if active else None
        )
        schedule.save()
        schedule.recipients.set(recipients)
    return schedule


def _check_schedule(owner, frequency, hour, weekday, day_of_month, format, recipients) -> None:
    if frequency not in ReportFrequency.values:
        raise DomainError(
            f"'{frequency}' is not a frequency: use daily, weekly or monthly.", field="frequency"
        )
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise DomainError("The hour must be between 0 and 23.", field="hour")
    if frequency == ReportFrequency.WEEKLY and (weekday is None or not 0 <= weekday <= 6):
        raise DomainError("A weekly schedule needs a weekday (Monday to Sunday).", field="weekday")
    if frequency == ReportFrequency.MONTHLY and (
        day_of_month is None or not 1 <= day_of_month <= 31
    ):
        raise DomainError(
            "A monthly schedule needs a day of the month (1–31).", field="day_of_month"
        )
    if format not in ReportFormat.values:
        raise DomainError(f"'{format}' is not a file format: use xlsx or csv.", field="format")
    allowed = set(recipient_choices(owner).values_list("pk", flat=True))
    outside = [person for person in recipients if person.pk not in allowed]
    if outside:
        names = ", ".join(str(person) for person in outside)
        raise DomainError(
            f"You can only send reports to active people in your teams, not to {names}.",
            field="recipients",
        )
    if not owner.email and not any(person.email for person in recipients):
        raise DomainError(
            "Nobody would receive this report: add an email address to your profile or pick "
            "recipients who have one.",
            field="recipients",
        )


def report_schedule_delete(*, acting_user: User, schedule: ReportSchedule) -> None:
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="report_schedule"):
        if schedule.report.owner_id != acting_user.pk:
            raise NotAllowed("Only the report's owner may change its schedules.")
        schedule.delete()


# --- Sending ----------------------------------------------------------------------------------


def report_deliveries_send_due(
    *, now: dt.datetime | None = None, limit: int = 200
) -> list[ReportDelivery]:
    """Send every schedule due at ``now`` (default: now), each once; returns the deliveries made
    (sent or failed). One transaction per schedule, holding its row lock while it is sent."""
    now = now or timezone.now()
    done = []
    for _ in range(limit):
        with transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("report", "report__owner")
                .filter(active=True, next_run_at__lte=now)
                .order_by("next_run_at", "pk")
                .first()
            )
            if schedule is None:
                break
            delivery = _deliver(schedule, due_at=schedule.next_run_at, now=now)
            schedule.next_run_at = schedule_next_due(schedule, after=now)
            schedule.save(update_fields=["next_run_at"])
        if delivery is not None:
            done.append(delivery)
    return done


def _deliver(schedule: ReportSchedule, *, due_at: dt.datetime, now: dt.datetime):
    """Run the report as its owner and email it; the delivery row says how it went."""
    report, owner = schedule.report, schedule.report.owner
    # Still in the owner's scope today: someone who moved to another team stops receiving it.
    still_allowed = schedule.recipients.filter(pk__in=recipient_choices(owner)).order_by("pk")
    people = [owner, *still_allowed]
    addresses = list(dict.fromkeys(p.email for p in people if p.email and p.is_active))
    try:
        with transaction.atomic():  # claims the due time: a second claim fails here
            delivery = ReportDelivery.objects.create(
                schedule=schedule, due_at=due_at, sent_at=timezone.now(),
                status=ReportDelivery.Status.FAILED, recipients=addresses,
            )  # fmt: skip
    except IntegrityError:
        return None
    try:
        with transaction.atomic():  # a failing query leaves the schedule's transaction usable
            if not owner.is_active:
                raise DomainError(f"The report's owner {owner} is no longer active.")
            if not addresses:
                raise DomainError(
                    "Nobody to send to: neither the owner nor a recipient has an email address."
                )
            today = now.astimezone(org_zone()).date()
            result = reports.run(report, viewer=owner, today=today)
            report_email(report, result, schedule=schedule, to=addresses, today=today).send()
    except SoftTimeLimitExceeded:
        raise  # out of time: this schedule's transaction rolls back, the next run sends it
    except DomainError as error:  # recorded; the next schedule still goes out
        logger.warning("Report delivery %s failed: %s", delivery.pk, error.message)
        delivery.error = error.message
    except Exception as error:  # a bug or the mail server: recorded the same way
        logger.exception("Report delivery %s failed", delivery.pk)
        delivery.error = f"{type(error).__name__}: {error}"
    else:
        delivery.status = ReportDelivery.Status.SENT
        delivery.rows = len(result.rows)
    delivery.sent_at = timezone.now()
    delivery.save(update_fields=["status", "rows", "error", "sent_at"])
    return delivery


def report_email(
    report: SavedReport,
    result: reports.ReportResult,
    *,
    schedule: ReportSchedule,
    to: list[str],
    today: dt.date,
) -> EmailMultiAlternatives:
    """The email of a report: subject, a summary of the top rows (text and HTML), the file."""
    filename = f"{slugify(report.name) or 'report'}-{today.isoformat()}"
    name, content, mimetype = reports.export_file(result, filename=filename, fmt=schedule.format)
    url = settings.SALESOPS_SITE_URL.rstrip("/") + reverse(
        "reporting:saved_report_detail", args=[report.pk]
    )
    context = {
        "report": report, "result": result, "top": result.rows[:SUMMARY_ROWS], "url": url,
        "schedule": describe(schedule), "owner": report.owner, "attachment": name,
    }  # fmt: skip
    message = EmailMultiAlternatives(
        subject=f"{report.name} · {result.period_label}",
        body=_text_summary(context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(
        render_to_string("reporting/reports/email.html", context), "text/html"
    )
    message.attach(name, content, mimetype)
    return message


def _text_summary(context: dict) -> str:
    result: reports.ReportResult = context["result"]
    top = context["top"]
    cells = [(row.label, _figure(row.value)) for row in top]
    left = max([len(result.group_label), *(len(label) for label, _ in cells)])
    right = max([len(result.value_label), *(len(value) for _, value in cells)])
    lines = [
        f"{context['report'].name}",
        f"{result.measure.label} by {result.group_label.lower()}, {result.period_label}. "
        f"Figures of {context['owner']}'s scope.",
        "",
        f"{result.group_label:<{left}}  {result.value_label:>{right}}",
        f"{'-' * left}  {'-' * right}",
        *(f"{label:<{left}}  {value:>{right}}" for label, value in cells),
    ]
    if not top:
        lines.append("Nothing to show for this period.")
    if result.total is not None and top:
        lines += [
            f"{'-' * left}  {'-' * right}",
            f"{'Total':<{left}}  {_figure(result.total):>{right}}",
        ]
    if len(result.rows) > len(top):
        lines += [
            "",
            f"The top {len(top)} of {len(result.rows)} rows; {context['attachment']} has all.",
        ]
    else:
        lines += ["", f"All rows are in {context['attachment']}."]
    lines += [f"Open the report: {context['url']}", f"Schedule: {context['schedule']}."]
    return "\n".join(lines) + "\n"


def _figure(value) -> str:
    return "–" if value is None else f"{value:,}"
