"""Engine and session setup, shared by the daemon, the CLI and the web UI.

SQLite is set up so a writing daemon and a reading CLI can share one file: WAL, a busy
timeout, and BEGIN IMMEDIATE for write transactions (a deferred read-then-write transaction
fails at once with "database is locked", ignoring the timeout).
"""

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
_WRITE = "mediawatch_write"


class DatabaseUnavailable(Exception):
    """The database cannot be opened for an expected reason (missing, unreachable, refused);
    the message names what failed and the fix, and the CLI shows it as one line."""


def make_engine(url: str, create: bool = True) -> Engine:
    """An engine for `url`, with SQLite's pragmas and write locking set up.

    A SQLite file is never created when `create` is false, nor in a directory that does not
    exist: a typo in a path should be an error, not a new empty archive somewhere else.
    """
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
        _check_sqlite_path(Path(parsed.database).expanduser(), create)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _write_ahead_log(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _write_ahead_log(cursor: Any) -> None:
    """Put the database in WAL mode, waiting (up to the busy timeout) for another process
    doing the same: two commands opening a new archive at once (the daemon and the web UI),
    and the second's PRAGMA failed at once with "database is locked", its busy timeout not
    asked. A database in WAL mode already is left as it is."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check_sqlite_path(path: Path, create: bool) -> None:
    if path.exists():
        return
    if not create:
        raise DatabaseUnavailable(
            f"no database at {path} yet: run `mediawatch crawl` or `mediawatch run` first"
        )
    if not path.parent.is_dir():
        raise DatabaseUnavailable(
            f"cannot create the database {path}: directory {path.parent} does not exist; "
            "create it, or fix [database] url"
        )


_PG_CAUSES = [
    (
        re.compile(r'database "([^"]*)" does not exist'),
        'PostgreSQL database "{0}" does not exist on {where}: create it '
        "(createdb {0}) or fix [database] url",
    ),
    (
        re.compile(r'role "([^"]*)" does not exist'),
        'PostgreSQL role "{0}" does not exist on {where}: create it (createuser {0}) '
        "or fix the user in [database] url",
    ),
    (
        re.compile(r'(?:password|authentication) failed for user "([^"]*)"'),
        'PostgreSQL refused the login of user "{0}" on {where}: fix the password in '
        "[database] url (or the server's pg_hba.conf)",
    ),
    (
        re.compile(r"Connection refused|No such file or directory|timeout expired|timed out"),
        "cannot reach PostgreSQL on {where}: start the server, or fix the host and port "
        "in [database] url",
    ),
    (
        re.compile(r"failed to resolve host '([^']*)'"),
        'cannot reach PostgreSQL: host "{0}" is not known; fix the host in [database] url',
    ),
]


def _unavailable(url: URL, exc: OperationalError) -> DatabaseUnavailable:
    """Our error for a failure to open `url`, naming the cause and the fix."""
    detail = str(exc.orig).strip() or str(exc)
    if url.get_backend_name() == "sqlite":
        if "locked" in detail:
            return DatabaseUnavailable(
                f"cannot open the SQLite database {url.database}: another command held it "
                f"locked for over {BUSY_TIMEOUT_MS // 1000} s (an upgrade or a long write); "
                "run this again once it has finished"
            )
        return DatabaseUnavailable(
            f"cannot open the SQLite database {url.database}: {detail.splitlines()[0]}; "
            "check the file and its directory are writable, or fix [database] url"
        )
    where = f"{url.host or 'the local socket'}" + (f":{url.port}" if url.port else "")
    for pattern, message in _PG_CAUSES:
        found = pattern.search(detail)
        if found:
            return DatabaseUnavailable(message.format(*found.groups(), where=where))
    shown = url.render_as_string(hide_password=True)
    return DatabaseUnavailable(
        f"cannot open the database {shown}: {' '.join(detail.split())}; fix [database] url "
        "or the server"
    )


class Database:
    """One engine and its sessions; `write()` for transactions that change data."""

    def __init__(self, url: str, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, create)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Bring the schema up to the newest migration (idempotent)."""
        from storage.migrate import at_head, upgrade

        if not at_head(self.engine):
            with self.engine.connect().execution_options(**{_WRITE: True}) as conn:
                upgrade(conn)

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
def open_database(url: str, create: bool = True) -> Iterator[Database]:
    """The database at `url` for one command: an engine, the schema migrated to the newest
    version, and the engine disposed at the end (also when the migration fails).

    Read-only commands pass `create=False`, so they never leave an empty SQLite file behind;
    a database that cannot be reached raises DatabaseUnavailable, not a driver's error.
    """
    db = Database(url, create)
    try:
        try:
            db.upgrade()
        except OperationalError as exc:
            raise _unavailable(make_url(url), exc) from exc
        yield db
    finally:
        db.dispose()
