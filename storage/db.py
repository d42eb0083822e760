"""Engine and session setup, shared by the daemon, the CLI and the web UI.

SQLite is set up so a writing daemon and a reading CLI can share one file: WAL, a busy
timeout, and BEGIN IMMEDIATE for write transactions (a deferred read-then-write transaction
fails at once with "database is locked", ignoring the timeout).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
_WRITE = "mediawatch_write"


def make_engine(url: str) -> Engine:
    """An engine for `url`, with SQLite's pragmas and write locking set up."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Without a connect timeout an unreachable host holds a crawl's database thread for
        # minutes (the kernel's TCP retries); a URL's own ?connect_timeout= still wins.
        timeout = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        )
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One engine and its sessions; `write()` for transactions that change data."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Bring the schema up to the newest migration (idempotent)."""
        from storage.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: BEGIN IMMEDIATE on SQLite, committed on success."""
        with (
            self.engine.connect().execution_options(**{_WRITE: True}) as conn,
            Session(bind=conn, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def open_database(url: str) -> Iterator[Database]:
    """The database at `url` for one command: an engine, the schema migrated to the newest
    version, and the engine disposed at the end (also when the migration fails)."""
    db = Database(url)
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
