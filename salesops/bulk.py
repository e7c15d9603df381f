"""Bulk loading with PostgreSQL COPY: the way generators and imports write many rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY ``rows`` into ``table`` in the current transaction; return how many were written."""
    count = 0
    column_list = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def reset_sequences(*tables: str) -> None:
    """After COPY with explicit ids, move each table's id sequence past its largest id."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table}"), 0) + 1, false)',
                [table],
            )


@contextmanager
def foreign_keys_checked_now() -> Iterator[None]:
    """Check deferred foreign keys statement by statement inside the block, not at commit.

    Django creates foreign keys INITIALLY DEFERRED. Every row written to an audited table fires
    the pghistory trigger, whose subtransaction makes PostgreSQL rescan the queue of pending
    deferred checks, so writing n rows with n checks queued costs O(n²): a 200k-account
    territory run took minutes, 43k quotas 40 s. Checked at once, the queue stays empty. The
    constraints are deferred again when the outermost block ends, as Django made them; a
    nested block (a service calling another that also bulk-writes) leaves them immediate for
    the rest of its caller. Use inside a transaction, outside any savepoint that may roll
    back (``with foreign_keys_checked_now(), atomic():``).
    """
    depth = getattr(connection, _DEPTH, 0)
    if depth == 0:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    setattr(connection, _DEPTH, depth + 1)
    try:
        yield
    finally:
        setattr(connection, _DEPTH, depth)
    # Only after success: after an error the transaction (or savepoint) is rolled back anyway,
    # and a statement in an aborted transaction would hide the error.
    if depth == 0:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


_DEPTH = "salesops_foreign_keys_checked_now_depth"


@contextmanager
def triggers_disabled() -> Iterator[bool]:
    """Skip row triggers (audit, foreign-key checks) for a bulk load, where the role may.

    ``session_replication_role = replica`` needs a superuser (true for the embedded server and
    the compose database). Elsewhere the load runs with triggers on: slower, same result. Yields
    whether triggers were off. Only for rows a generator or import has already validated.
    """
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        disabled = True
    except DatabaseError:
        disabled = False
    try:
        yield disabled
    finally:
        if disabled:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")
