"""``/healthz``: is the database, Redis, a Celery worker and beat alive?

HTTP 200 when the database and Redis answer (the web process can serve), 503 otherwise.
``status`` is ``ok`` when everything is up and ``degraded`` when only a worker or beat is missing:
pages still work, but background recomputes do not run.
"""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from salesops.celery import app as celery_app
from salesops.org.tasks import HEARTBEAT_KEY


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        result = {"ok": True, **(detail or {})}
    except Exception as error:  # a health check reports every failure, whatever its type
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _redis() -> dict:
    client = cache._cache.get_client(write=True)
    client.ping()
    return {}


def _workers() -> dict:
    # limit=1: one live worker is enough to report healthy, and the reply ends the wait early.
    replies = celery_app.control.ping(timeout=1.0, limit=1) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError("no Celery worker answered a ping within 1 s")
    return {"workers": names}


def _beat() -> dict:
    last = cache.get(HEARTBEAT_KEY)
    if not last:
        raise RuntimeError("no heartbeat from Celery beat yet")
    age = (timezone.now() - dt.datetime.fromisoformat(last)).total_seconds()
    if age > 3 * settings.HEARTBEAT_INTERVAL_SECONDS:
        raise RuntimeError(f"last heartbeat {age:.0f} s ago")
    return {"last_heartbeat": last, "age_seconds": round(age, 1)}


@never_cache
def healthz(request):
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if checks["redis"]["ok"]:
        checks["worker"] = _timed(_workers)
        checks["beat"] = _timed(_beat)
    else:
        checks["worker"] = checks["beat"] = {"ok": False, "error": "Redis is down"}
    serving = checks["database"]["ok"] and checks["redis"]["ok"]
    everything = serving and checks["worker"]["ok"] and checks["beat"]["ok"]
    status = "ok" if everything else ("degraded" if serving else "down")
    return JsonResponse({"status": status, "checks": checks}, status=200 if serving else 503)
