"""The embedded servers are real, start idempotently, and keep their data across a restart."""

import psycopg
import pytest
import redis

from salesops import embedded


@pytest.fixture
def var_dir(tmp_path):
    yield tmp_path
    embedded.stop(tmp_path)


def test_postgres_and_redis_start_and_persist_across_restart(var_dir):
    services = embedded.ensure_started(var_dir, database="persist_check")
    with psycopg.connect(services.postgres.uri("persist_check"), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert int(version.split(".")[0]) >= 16
    client = redis.Redis.from_url(embedded.redis_url(services.redis_socket))
    client.set("kept", "still here")

    assert sorted(embedded.stop(var_dir)) == ["postgres", "redis"]
    assert embedded.status(var_dir) == {"postgres": "stopped", "redis": "stopped"}

    again = embedded.ensure_started(var_dir, database="persist_check")
    with psycopg.connect(again.postgres.uri("persist_check")) as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)
    client = redis.Redis.from_url(embedded.redis_url(again.redis_socket))
    assert client.get("kept") == b"still here"


def test_start_is_idempotent_and_reuses_the_running_servers(var_dir):
    first = embedded.ensure_started(var_dir)
    second = embedded.ensure_started(var_dir)
    assert first == second
    assert embedded.status(var_dir)["postgres"].startswith("running")
    assert embedded.status(var_dir)["redis"].startswith("running")


def test_stop_when_nothing_runs_is_harmless(tmp_path):
    assert embedded.stop(tmp_path) == []


def test_long_paths_fall_back_to_a_short_redis_socket(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    socket = embedded._redis_socket(deep / "redis")
    assert len(str(socket)) < 100


def test_celery_urls_for_unix_sockets():
    assert (
        embedded.celery_url("unix:///v/redis.sock?db=2")
        == "redis+socket:///v/redis.sock?virtual_host=2"
    )
    assert embedded.celery_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_the_test_run_itself_uses_postgres(db):
    from django.db import connection

    assert connection.vendor == "postgresql"
