"""Real Celery worker and beat processes for tests, against the test database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from salesops.celery import app

ROOT = Path(__file__).resolve().parent.parent


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        **(extra or {}),
        "DJANGO_SETTINGS_MODULE": "salesops.settings_test",
        # The worker must read and write the database this test run created.
        "SALESOPS_DB_NAME": connection.settings_dict["NAME"],
    }


@contextmanager
def celery_process(*args: str, ready=None, timeout: float = 30, environment=None):
    """Run ``celery -A salesops ARGS`` until the block ends; wait for ``ready()`` to be true."""
    log = open(ROOT / "var" / "test" / f"celery-{args[0]}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "salesops", *args],
        cwd=ROOT,
        env=_environment(environment),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"celery {args[0]} did not become ready:\n{Path(log.name).read_text()}"
                )
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def worker_answers(hostname: str) -> bool:
    replies = app.control.ping(destination=[hostname], timeout=0.5) or []
    return any(hostname in reply for reply in replies)


@contextmanager
def celery_worker(*, purge: bool = True, environment: dict[str, str] | None = None):
    """A real worker (solo pool) consuming every queue (``purge``: empty the queues first)."""
    if purge:
        app.control.purge()
    hostname = f"test-{os.getpid()}@localhost"
    with celery_process(
        "worker",
        "--pool",
        "solo",
        "--queues",
        "default,kpi,comp",
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
        ready=lambda: worker_answers(hostname),
        environment=environment,
    ) as process:
        yield process
