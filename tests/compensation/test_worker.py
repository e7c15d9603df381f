"""A commission run on a real Celery worker, including one killed in the middle of the run."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from compensation import runs
from compensation.models import CommissionRun, Credit, LineCredit, PayoutLine, RunStatus
from tests.celery_processes import celery_worker
from tests.compensation.comp_setup import Q1_DAY, D, assign, plan, won


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _blocked_on_line_credits() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%INSERT INTO compensation_linecredit%%'"
        )
        return cursor.fetchone()[0] > 0


def _status(run) -> str:
    return CommissionRun.objects.get(pk=run.pk).status


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_leaves_nothing_and_the_redelivery_pays_once(org, pipeline):
    assign(plan(org), org.rep_east)
    won(org, pipeline, org.rep_east, "120000", Q1_DAY)
    run = runs.run_create(period_key="2027-Q1", acting_user=org.ops)
    # Hold the last table the run writes, so the worker stops inside its transaction with
    # credits and lines written but not committed.
    blocker = connection.copy()
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE compensation_linecredit IN ACCESS EXCLUSIVE MODE")
    try:
        with celery_worker() as worker:
            runs.run_calculate_request(run=run, acting_user=org.ops)
            _wait(_blocked_on_line_credits, 60, "the worker never reached the last step")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=20)
        # Nothing of the killed attempt is visible: no credits, no lines; still calculating.
        assert _status(run) == RunStatus.CALCULATING
        assert not Credit.objects.filter(run=run).exists()
        assert not PayoutLine.objects.filter(run=run).exists()
    finally:
        blocker.rollback()
        blocker.close()
    # A new worker gets the unacknowledged task back and runs it to the end, once.
    with celery_worker(purge=False, environment={"SALESOPS_REDELIVER_AFTER_SECONDS": "2"}):
        _wait(lambda: _status(run) == RunStatus.CALCULATED, 120, "the task was not redelivered")
    [line] = PayoutLine.objects.filter(run=run)
    assert (line.user, line.amount) == (org.rep_east, D("8900.00"))
    assert Credit.objects.filter(run=run).count() == 3  # the owner and two manager roll-ups
    assert LineCredit.objects.filter(line=line).count() == 1
    assert CommissionRun.objects.get(pk=run.pk).total == D("8900.00")
