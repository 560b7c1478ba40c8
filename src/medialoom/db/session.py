"""Engine and transactions for SQLite (WAL, embedded default) and PostgreSQL.

SQLite allows one writer at a time. A transaction that reads and then writes would have to
upgrade its lock and can fail at once with "database is locked" when another writer got in
between; write transactions therefore start with ``BEGIN IMMEDIATE`` and wait for the lock.
Writers also queue on a lock of their own first, a thread lock within a process and an
``flock`` on a file beside the database across processes: SQLite's busy handler waits by
sleeping in growing steps, which turned lock contention into 400 ms latency spikes, while a
blocked ``flock`` wakes the moment the lock is free.
"""

from __future__ import annotations

from collections.abc import Iterator
import fcntl
import threading
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

from sqlalchemy import Select, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Compiled, Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SQLiteWriteLock:
    """Serialises write transactions of all threads and processes sharing one SQLite file."""

    def __init__(self, database_path: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = f"{database_path}.write-lock" if database_path and database_path != ":memory:" else None
        self._file = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._path is not None:
                if self._file is None:
                    self._file = open(self._path, "a+b")  # noqa: SIM115 - kept for the process's life
                fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


# SQLite's planner needs table statistics to prefer a selective label lookup over walking a
# whole environment's index (without them a tag search at 1M assets took 350 ms instead of
# 15). Nothing gathers them unless asked, so every process refreshes them on its first write
# and then every STATISTICS_EVERY writes, sampling at most SAMPLED_ROWS rows per index so
# that a refresh takes milliseconds at any size. (PostgreSQL's autovacuum does this itself.)
STATISTICS_EVERY = 2000
SAMPLED_ROWS = 1000
# The page cache bound of each SQLite connection (KiB): a 1M-asset tag count touches ~25 MB.
SQLITE_CACHE_KIB = 128 * 1024


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = SQLiteWriteLock(self.engine.url.database) if self.is_sqlite else nullcontext()
        self._writes = 0
        self._compiled: dict[int, Compiled] = {}
        self._inserts: dict[str, object] = {}

    def _create_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=20,
                               # The most recently used connection first: its page cache is warm.
                               pool_use_lifo=True)

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record):  # noqa: ANN001
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Reads through a shared memory map instead of a read() per page: searches that
            # visit thousands of rows by id spend most of their time on page reads otherwise.
            cursor.execute("PRAGMA mmap_size=1073741824")
            # Mapped pages are still parsed anew on every visit; SQLite's own cache keeps them
            # parsed. It grows only as pages are read, up to this bound per connection.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):  # noqa: ANN001
            mode = connection.info.get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that will write: committed on success, rolled back on error."""
        with self._writing() as connection, Session(bind=connection, expire_on_commit=False) as session, \
                session.begin():
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A write transaction on a Core connection, without the ORM's unit of work (which costs
        a millisecond or more per transaction): committed on success, rolled back on error."""
        with self._writing() as connection, connection.begin():
            yield connection

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A read on a Core connection (one snapshot for all its statements)."""
        with self.engine.connect() as connection:
            yield connection

    def insert_unless_present(self, table: Table, row: dict[str, object]) -> None:
        """Insert one row in a transaction of its own, or nothing when a unique column already
        holds its value. Core, not an ORM session: for a row written after each rendering the
        session's unit of work cost ~2 ms. Raises IntegrityError when a row it refers to is gone."""
        statement = self._inserts.get(table.name)
        if statement is None:
            dialect_insert = sqlite_insert if self.is_sqlite else postgresql_insert
            statement = self._inserts[table.name] = dialect_insert(table).on_conflict_do_nothing()
        with self._writing() as connection:
            connection.execute(statement, row)
            connection.commit()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.connect() as connection:
            if self.is_sqlite:
                connection.info["sqlite_begin"] = "IMMEDIATE"
            try:
                yield connection
            finally:
                connection.info.pop("sqlite_begin", None)
            self._writes += 1
            if self.is_sqlite and self._writes % STATISTICS_EVERY == 1:
                self._analyze(connection)

    def refresh_statistics(self) -> None:
        """Gather the planner's statistics now (after a bulk load, say)."""
        with self._write_lock, self.engine.connect() as connection:
            if self.is_sqlite:
                self._analyze(connection)
            else:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()

    @staticmethod
    def _analyze(connection) -> None:  # noqa: ANN001
        connection.exec_driver_sql(f"PRAGMA analysis_limit={SAMPLED_ROWS}")
        connection.exec_driver_sql("ANALYZE")
        connection.commit()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def first_row(self, statement: Select, params: dict[str, object]) -> tuple | None:
        """The first row of a SELECT built once at import, straight through the driver: no
        transaction (a single statement reads a consistent snapshot on its own) and none of
        Core's result processing, so values come as the driver gives them (JSON as text on
        SQLite). For the per-request lookups of delivery, where SQLAlchemy's execution, the
        BEGIN and the result object took most of a cached answer's time."""
        compiled = self._compiled.get(id(statement))
        if compiled is None:
            compiled = self._compiled[id(statement)] = statement.compile(dialect=self.engine.dialect)
        values = compiled.construct_params(params)
        if compiled.positiontup is not None:  # SQLite's "?" placeholders
            values = tuple(values[name] for name in compiled.positiontup)
        connection = self.engine.raw_connection()  # back to the pool (rolled back) on close
        try:
            cursor = connection.cursor()
            cursor.execute(compiled.string, values)
            row = cursor.fetchone()
            cursor.close()
            return row
        finally:
            connection.close()

    def dispose(self) -> None:
        self.engine.dispose()
