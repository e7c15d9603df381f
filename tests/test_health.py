"""/healthz against the real database, Redis, Celery worker and beat."""

import time

import pytest
from django.core.cache import cache
from django.test import override_settings

from salesops.org.tasks import HEARTBEAT_KEY
from tests.celery_processes import celery_process, celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_degraded_without_worker_or_beat(client):
    cache.delete(HEARTBEAT_KEY)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["worker"] == {
        "ok": False,
        "error": "RuntimeError: no Celery worker answered a ping within 1 s",
        "ms": body["checks"]["worker"]["ms"],
    }
    assert body["checks"]["beat"]["ok"] is False


def test_ok_with_a_real_worker_and_beat(client, tmp_path):
    cache.delete(HEARTBEAT_KEY)
    with celery_worker():
        body = client.get("/healthz").json()
        assert body["checks"]["worker"]["ok"] is True
        assert body["checks"]["beat"]["ok"] is False
        # beat sends a heartbeat as it starts; the worker runs it and health turns green.
        with celery_process("beat", "--schedule", str(tmp_path / "schedule"), "--loglevel", "INFO"):
            deadline = time.monotonic() + 30
            while (body := client.get("/healthz").json())["status"] != "ok":
                assert time.monotonic() < deadline, body
                time.sleep(0.5)
    assert body["checks"]["beat"]["age_seconds"] < 30


def test_down_with_503_when_redis_is_unreachable(client):
    broken = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "unix:///nonexistent/redis.sock",
        }
    }
    with override_settings(CACHES=broken):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["redis"]["ok"] is False
    assert "nonexistent" in body["checks"]["redis"]["error"]
