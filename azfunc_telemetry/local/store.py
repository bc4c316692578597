"""An embedded SQLite store laid out like Application Insights' classic tables.

The local sink writes every accepted envelope here, and the local KQL engine reads it back, so
queries written against ``traces``, ``requests``, ``dependencies``, ``exceptions``,
``customMetrics`` and ``customEvents`` work the same on a laptop as in the portal. Envelopes become
rows as :mod:`azfunc_telemetry.local.rows` maps them; the tables and their columns are those of
:mod:`azfunc_telemetry.local.tables`.

Several sinks, threads and processes may write one database at once: the store uses WAL
journaling, a generous busy timeout and ``BEGIN IMMEDIATE`` transactions, so concurrent writers
queue up instead of failing, and nothing is lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from azfunc_telemetry.ingestion.protocol import parse_envelope_time
from azfunc_telemetry.local.rows import Row, envelope_rows, parse_duration_ms
from azfunc_telemetry.local.tables import COLUMN_TYPES, TABLES

__all__ = [
    "COLUMN_TYPES",
    "TABLES",
    "TelemetryStore",
    "UnknownTableError",
    "connect_read_only",
    "parse_duration_ms",
]

_SQL_TYPES = {"long": "INTEGER", "int": "INTEGER", "bool": "INTEGER", "real": "REAL"}


class UnknownTableError(KeyError, ValueError):
    """A table name that is not one of :data:`TABLES`.

    It is a ``KeyError`` for lookups by name and a ``ValueError`` for argument checks, so callers
    may catch either.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return parse_envelope_time(value)
    if kind == "dynamic":
        return json.loads(value)
    if kind == "bool":
        return bool(value)
    return value


def connect_read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing store so that SQLite refuses every write through the connection.

    Raises:
        sqlite3.OperationalError: The file does not exist or cannot be opened.
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(os.fspath(path))) + "?mode=ro"
    connection = sqlite3.connect(
        uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA busy_timeout = 30000")
    return connection


class TelemetryStore:
    """SQLite database with one table per Application Insights telemetry type.

    Opening creates the schema when missing, so a database survives sink restarts and can be
    shared by several processes.

    Args:
        path: Database file; created if absent (unless ``read_only``).
        read_only: Open an existing database for reading only, as viewers and queries that must
            never change the telemetry do: SQLite itself then refuses every write.
    """

    TABLES = TABLES
    """The tables this store keeps (same as the module constant)."""

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self._path = os.fspath(path)
        self._missing: dict[str, tuple[str, ...]] = {}  # see _missing_columns
        self._lock = threading.Lock()
        self._skipped = 0
        self._connection: sqlite3.Connection | None
        if read_only:
            self._connection = connect_read_only(self._path)
            return
        # One connection guarded by a lock serialises this process's threads; WAL and the busy
        # timeout let other processes write the same file concurrently.
        self._connection = sqlite3.connect(
            self._path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            self._connection.execute("PRAGMA busy_timeout = 30000")
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._create_schema(self._connection)
        except BaseException:
            self._connection.close()
            raise

    @staticmethod
    def _create_schema(connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for table, kinds in COLUMN_TYPES.items():
                columns = ", ".join(
                    f'"{name}" {_SQL_TYPES.get(kind, "TEXT")}' for name, kind in kinds.items()
                )
                connection.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({columns})')
                # A store written by an older version lacks the newer columns: add them.
                present = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
                for name, kind in kinds.items():
                    if name not in present:
                        sql_type = _SQL_TYPES.get(kind, "TEXT")
                        connection.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {sql_type}')
                connection.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{table}_timestamp" ON "{table}" (timestamp)'
                )
                # Drill-down by operation and joins on it read this index instead of the table.
                connection.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{table}_operation_Id"'
                    f' ON "{table}" (operation_Id)'
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def skipped(self) -> int:
        """Envelopes this store instance did not keep (unknown ``baseType`` or bad ``time``)."""
        return self._skipped

    def _require_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the telemetry store is closed")
        return self._connection

    @staticmethod
    def _check_table(table: str) -> None:
        if table not in COLUMN_TYPES:
            raise UnknownTableError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")

    def insert(self, envelopes: Iterable[Mapping[str, Any]]) -> int:
        """Store envelopes in one transaction and return the number of rows written.

        A metric envelope yields one row per entry of ``baseData.metrics``. Envelopes of other
        base types are skipped and counted in :attr:`skipped`.
        """
        by_table: dict[str, list[Row]] = {}
        skipped = 0
        for envelope in envelopes:
            mapped = envelope_rows(envelope)
            if mapped is None:
                skipped += 1
                continue
            by_table.setdefault(mapped[0], []).extend(mapped[1])
        written = 0
        with self._lock:
            self._skipped += skipped
            if not by_table:
                return 0
            connection = self._require_connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                for table, rows in by_table.items():
                    names = tuple(COLUMN_TYPES[table])
                    placeholders = ", ".join("?" for _ in names)
                    quoted = ", ".join(f'"{name}"' for name in names)
                    connection.executemany(
                        f'INSERT INTO "{table}" ({quoted}) VALUES ({placeholders})',
                        [tuple(row.get(name) for name in names) for row in rows],
                    )
                    written += len(rows)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return written

    def columns(self, table: str) -> tuple[str, ...]:
        """Column names of ``table`` in schema order.

        Raises:
            UnknownTableError: ``table`` is not one of :data:`TABLES`.
        """
        self._check_table(table)
        return tuple(COLUMN_TYPES[table])

    def column_types(self, table: str) -> dict[str, str]:
        """Column name to Kusto type (``string``, ``long``, ``datetime``...) for ``table``.

        Raises:
            UnknownTableError: ``table`` is not one of :data:`TABLES`.
        """
        self._check_table(table)
        return dict(COLUMN_TYPES[table])

    def _missing_columns(self, table: str) -> tuple[str, ...]:
        """Columns of :data:`COLUMN_TYPES` the database file lacks (one not migrated yet, such
        as an older store opened only for reading); they read as null."""
        missing = self._missing.get(table)
        if missing is None:
            with self._lock:
                info = self._require_connection().execute(f'PRAGMA table_info("{table}")')
                present = {row[1] for row in info}
            missing = tuple(name for name in COLUMN_TYPES[table] if name not in present)
            self._missing[table] = missing
        return missing

    def table_sql(self, table: str) -> str:
        """SQL naming ``table`` with every column of :data:`COLUMN_TYPES`, for queries.

        Normally the quoted table name; for a database lacking newer columns, a subquery that
        adds them as nulls (keeping ``rowid``), so the same SQL runs on old and new stores.
        """
        self._check_table(table)
        missing = self._missing_columns(table)
        if not missing:
            return f'"{table}"'
        nulls = ", ".join(f'NULL AS "{name}"' for name in missing)
        return f'(SELECT rowid AS rowid, *, {nulls} FROM "{table}")'

    def rows(self, table: str) -> list[dict[str, Any]]:
        """All rows of ``table`` in insertion order, decoded to Python values.

        ``timestamp`` is an aware UTC datetime, ``customDimensions``, ``customMeasurements`` and
        ``details`` are dicts/lists, ``success`` is a bool.
        """
        self._check_table(table)
        kinds = COLUMN_TYPES[table]
        names = tuple(kinds)
        quoted = ", ".join(f'"{name}"' for name in names)
        source = self.table_sql(table)
        with self._lock:
            fetched = (
                self._require_connection()
                .execute(f"SELECT {quoted} FROM {source} ORDER BY rowid")
                .fetchall()
            )
        return [
            {name: _decode(kinds[name], value) for name, value in zip(names, row, strict=True)}
            for row in fetched
        ]

    def read_sql(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one read-only SQL statement and return its rows.

        The KQL engine uses this to let SQLite filter, group and sort before rows are decoded;
        the connection refuses writes for the statement's duration.
        """
        with self._lock:
            connection = self._require_connection()
            connection.execute("PRAGMA query_only = ON")
            try:
                return connection.execute(sql).fetchall()
            finally:
                connection.execute("PRAGMA query_only = OFF")

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        self._check_table(table)
        with self._lock:
            (total,) = (
                self._require_connection().execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
            )
        return int(total)

    def close(self) -> None:
        """Close the database; further calls fail. Safe to call twice."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> TelemetryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
