"""The leaderboard's SQLite file: one row per (model, model fingerprint, benchmark, benchmark version, options).

The model fingerprint is the hash of what the model computes (weights, preprocessing, layers, region map, layouts,
visual degrees, extraction code; an RDM model's RDM content); the weights hash is kept in its own column for the
page. A file of schema version 1 (keyed by the weights hash alone) is migrated when opened, in one transaction:
its rows are kept with the fingerprint ``schema1:<weights hash>``, which no model's fingerprint equals, so they stay
on the page as history but are never returned as a fresh result of a key (every pair is scored again). A file of
any other version is refused in one line.

Safe when several runs overlap: WAL journal (readers never block the writer), every write in a
``BEGIN IMMEDIATE`` transaction (one writer at a time; others wait up to ``timeout`` seconds instead of failing),
and a UNIQUE key so a pair is stored once. An ``ok`` row is never replaced by an ``error`` row; an ``error`` row is
replaced by a later attempt. An ``ok`` row always holds a finite score (:meth:`LeaderboardStore.record` refuses
NaN, inf or NULL). Keep the file on a local disk: SQLite's WAL mode needs shared memory.

A full disk is reported as such (:class:`~model_registry.storage.cleanup.DiskFullError`, "no space left under
<folder>"), with the database's own integrity check: SQLite rolls the failed transaction back, so the stored rows
are intact.
"""
from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import fields
from pathlib import Path

from model_registry.storage.cleanup import DiskFullError, is_disk_full
from model_registry.storage.paths import realnet_home

from .records import PairKey, PairResult

SCHEMA_VERSION = 2
LEGACY_FINGERPRINT_PREFIX = "schema1:"  # rows migrated from schema 1: fingerprint unknown, never a fresh match
KEY_COLUMNS = ("model", "model_fingerprint", "benchmark", "benchmark_version", "options")
_COLUMNS = tuple(f.name for f in fields(PairResult))
_TABLE = f"""
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    weights_hash TEXT NOT NULL,
    benchmark_version TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{{}}',
    model_fingerprint TEXT NOT NULL DEFAULT '',
    pretrained INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    score REAL, raw REAL, ceiling REAL, error REAL, ci_low REAL, ci_high REAL,
    message TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    attrs TEXT NOT NULL DEFAULT '{{}}',
    created_at TEXT NOT NULL,
    UNIQUE ({", ".join(KEY_COLUMNS)})
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS results_by_model ON results (model, benchmark)"
_META = ("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
         f"INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}')")
# schema 1 had no model_fingerprint column and a UNIQUE key over the weights hash
_V1_COLUMNS = tuple(c for c in _COLUMNS if c != "model_fingerprint")
_UPSERT = (f"INSERT INTO results ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
           f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in KEY_COLUMNS)
           + " WHERE excluded.status = 'ok' OR results.status = 'error'")


def _migrate_v1(connection: sqlite3.Connection) -> None:
    """Schema 1 -> 2 inside the caller's write transaction: rebuild ``results`` with the ``model_fingerprint`` key
    column; old rows get ``schema1:<weights hash>`` (kept as history, never matched by a new key)."""
    connection.execute("ALTER TABLE results RENAME TO results_schema1")
    connection.execute("DROP INDEX IF EXISTS results_by_model")
    connection.execute(_TABLE)
    columns = ", ".join(_V1_COLUMNS)
    connection.execute(f"INSERT INTO results ({columns}, model_fingerprint) SELECT {columns}, "
                       f"'{LEGACY_FINGERPRINT_PREFIX}' || weights_hash FROM results_schema1 ORDER BY id")
    connection.execute("DROP TABLE results_schema1")
    connection.execute(_INDEX)
    connection.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))


def default_db_path() -> Path:
    """``$REALNET_HOME/leaderboard.sqlite``."""
    return realnet_home() / "leaderboard.sqlite"


class LeaderboardStore:
    """Results of leaderboard runs in one SQLite file (created on first use)."""

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 60.0):
        self.path = Path(path) if path is not None else default_db_path()
        if self.path.exists() and not self.path.is_file():
            raise IsADirectoryError(f"leaderboard database {self.path} is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        # autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE
        self._connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        try:
            self._connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = self._switch_to_wal(timeout)
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL mode (got {mode!r})")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            with self._write() as connection:  # the schema is created (or migrated) in one transaction
                for statement in _META:
                    connection.execute(statement)
                found = connection.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0]
                if str(found) == "1":
                    _migrate_v1(connection)
                elif str(found) != str(SCHEMA_VERSION):
                    raise ValueError(f"leaderboard database {self.path} has schema version {found}; this code reads "
                                     f"version {SCHEMA_VERSION} (and migrates version 1): use a newer realnet-plugin "
                                     "or another --db file")
                else:
                    connection.execute(_TABLE)
                    connection.execute(_INDEX)
        except sqlite3.DatabaseError as error:
            if is_disk_full(error):
                state = self._integrity()
                self._connection.close()
                if not existed and self.path.is_file() and self.path.stat().st_size == 0:  # leave no empty file
                    for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                        leftover.unlink(missing_ok=True)
                    state = "no database file was created"
                raise self._disk_full("could not create the leaderboard database" if not existed
                                      else "could not open the leaderboard database", state) from None
            self._connection.close()
            raise ValueError(f"{self.path} is not a usable leaderboard database: {error}") from None
        except BaseException:
            self._connection.close()
            raise

    def _switch_to_wal(self, timeout: float) -> str:
        """``PRAGMA journal_mode = WAL``, retried: SQLite answers "database is locked" at once (without its busy
        handler) when another process is switching the same new file at that moment."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                return self._connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(0.5, delay * 2)

    def _integrity(self) -> str:
        """What SQLite's ``quick_check`` says of the file, in words (it reads only, so it works on a full disk)."""
        try:
            found = self._connection.execute("PRAGMA quick_check").fetchall()
            if [row[0] for row in found] != ["ok"]:
                return f"its integrity check reports: {'; '.join(str(row[0]) for row in found[:3])}"
            try:
                n_rows = self._connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.DatabaseError:  # a new file without the table yet
                return "it is intact (no results stored yet)"
            return f"it is intact ({n_rows} stored results, integrity check ok)"
        except sqlite3.DatabaseError as error:
            return f"its integrity could not be checked ({error})"

    def _disk_full(self, what: str, state: str) -> DiskFullError:
        return DiskFullError(f"no space left under {self.path.parent}: {what} {self.path.name}; {state}. Free "
                             "disk space and run again")

    # --- transactions -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the timeout).
        Any error (a full disk included) or interrupt rolls it back."""
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
            self._connection.execute("COMMIT")
        except BaseException:
            if self._connection.in_transaction:  # SQLite may have rolled back by itself (e.g. SQLITE_FULL)
                self._connection.execute("ROLLBACK")
            raise

    # --- reading ------------------------------------------------------------------------------------------------
    def _rows(self, where: str = "", parameters: Iterable = ()) -> list[PairResult]:
        cursor = self._connection.execute(f"SELECT {', '.join(_COLUMNS)} FROM results {where} ORDER BY id",
                                          tuple(parameters))
        return [PairResult(**{**dict(zip(_COLUMNS, row)), "pretrained": bool(row[_COLUMNS.index("pretrained")])})
                for row in cursor.fetchall()]

    def get(self, key: PairKey) -> PairResult | None:
        """The stored result of ``key`` (ok or error), or ``None``."""
        rows = self._rows("WHERE " + " AND ".join(f"{c} = ?" for c in KEY_COLUMNS),
                          (getattr(key, c) for c in KEY_COLUMNS))
        return rows[0] if rows else None

    def has_ok(self, key: PairKey) -> bool:
        """Whether ``key`` has a successful result (error rows do not count: they are retried)."""
        found = self.get(key)
        return found is not None and found.ok

    def results(self, models: Iterable[str] | None = None, benchmarks: Iterable[str] | None = None) -> list[PairResult]:
        """Stored results, oldest first, optionally only for the given model and benchmark ids."""
        clauses, parameters = [], []
        for column, wanted in (("model", models), ("benchmark", benchmarks)):
            if wanted is not None:
                wanted = list(wanted)
                clauses.append(f"{column} IN ({', '.join('?' for _ in wanted)})" if wanted else "0")
                parameters.extend(wanted)
        return self._rows("WHERE " + " AND ".join(clauses) if clauses else "", parameters)

    def __len__(self) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    # --- writing ------------------------------------------------------------------------------------------------
    def record(self, result: PairResult) -> bool:
        """Store ``result``; returns whether it was written (an ok row is kept rather than replaced by an error).

        Raises ``ValueError`` for a status other than ``ok``/``error`` and for an ``ok`` result without a finite
        score."""
        if result.status not in ("ok", "error"):
            raise ValueError(f"result status must be 'ok' or 'error', got {result.status!r}")
        if result.ok and not (isinstance(result.score, (int, float)) and math.isfinite(result.score)):
            raise ValueError(f"an ok row needs a finite score; {result.model} on {result.benchmark} has "
                             f"score={result.score!r} (store it as an error row)")
        values = tuple(int(result.pretrained) if c == "pretrained" else getattr(result, c) for c in _COLUMNS)
        try:
            with self._write() as connection:
                changed = connection.execute(_UPSERT, values).rowcount
        except sqlite3.DatabaseError as error:
            if not is_disk_full(error):
                raise
            raise self._disk_full(f"could not store the result of {result.model} on {result.benchmark} in the "
                                  "leaderboard database", self._integrity()) from None
        return changed > 0

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LeaderboardStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
