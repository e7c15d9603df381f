"""Celery tasks of compensation (queue ``comp``): thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from compensation import runs


@shared_task(name="compensation.tasks.run_calculate", bind=True)
def run_calculate(self, run_id: int) -> str:
    """Calculate one commission run; progress goes to the task state, which the page reads.

    Late acknowledgement: if the worker dies, the task is delivered again and starts over
    (nothing of the first attempt was committed).
    """

    def progress(percent: int, step: str) -> None:
        self.update_state(state="PROGRESS", meta={"percent": percent, "step": step})

    try:
        run = runs.run_calculate(run_id=run_id, progress=progress)
    except Exception as error:
        runs.run_mark_failed(run_id=run_id, problem=f"{type(error).__name__}: {error}")
        raise
    return run.status
