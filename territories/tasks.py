"""Celery tasks of territory planning: thin wrappers around the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from territories import runs


@shared_task(name="territories.tasks.assignment_run_execute", bind=True)
def assignment_run_execute(self, run_id: int) -> str:
    """Apply one rule run; progress goes to the task state, which the run page reads."""

    def progress(percent: int, step: str) -> None:
        self.update_state(state="PROGRESS", meta={"percent": percent, "step": step})

    try:
        run = runs.assignment_run_execute(run_id=run_id, progress=progress)
    except Exception as error:
        runs.assignment_run_mark_failed(run_id=run_id, problem=f"{type(error).__name__}: {error}")
        raise
    return run.status


@shared_task(name="territories.tasks.assignment_runs_due", ignore_result=True)
def assignment_runs_due() -> int:
    """Queue the runs scheduled for today or earlier (beat, hourly). Returns how many."""
    return len(runs.assignment_runs_due())
