"""Run Alembic migrations from code, so `mediawatch` upgrades its own database on start.

Every command opens the database this way; one already at the newest migration is told by
reading its version table, without loading Alembic and its scripts (a quarter of a second a
command).
"""

import re
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Each migration's file name starts with its revision ("0017_stemmed_word_keys.py" is "0017");
# tests/test_migrations.py checks that the newest of them is Alembic's head.
_REVISION = r"\d{4}"
_REVISION_FILE = re.compile(rf"^({_REVISION})_\w+\.py$")
VERSION_TABLE = "alembic_version"
# PostgreSQL's advisory lock that one upgrade at a time holds (an arbitrary, fixed number).
_UPGRADE_LOCK = 0x6D656469


class MigrationRefused(RuntimeError):
    """A migration found data it will not guess about; the message says what to fix."""


def alembic_config() -> "Config":
    """Alembic's configuration, pointing at our migrations folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision, read from the file names."""
    names = (_REVISION_FILE.match(p.name) for p in (MIGRATIONS / "versions").iterdir())
    return max(found.group(1) for found in names if found)


def at_head(engine: Engine) -> bool:
    """True when the database behind `engine` is at the newest migration already.

    Raises MigrationRefused for a database a newer mediawatch upgraded (a rolled-back
    deployment, an archive copied from a newer server): Alembic would say only that it cannot
    locate the revision, which reads as a bug."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return False
        versions = list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    head = head_revision()
    newer = sorted(v for v in versions if re.fullmatch(_REVISION, v) and v > head)
    if newer:
        raise MigrationRefused(
            f"a newer mediawatch has upgraded it (schema revision {newer[-1]}; this version "
            f"knows revisions up to {head}). Fix: run the mediawatch that upgraded it (or a newer "
            "one), or point [database] url at another archive"
        )
    return versions == [head]


def upgrade(bind: Engine | Connection, revision: str = "head") -> None:
    """Upgrade the database behind `bind` to `revision`, one process at a time.

    `mediawatch run` and its workers started together on a new archive each upgrade it: the
    second waits for the first and finds nothing left to do, rather than failing on tables the
    first just made. PostgreSQL: an advisory lock for the transaction, at READ COMMITTED
    whatever the server's default (at REPEATABLE READ the snapshot, taken as the lock is asked
    for, would not see the first one's tables). SQLite: the caller's connection begins
    IMMEDIATE (Database.upgrade), which waits for the other writer; a deferred transaction
    read the version first and then failed at once, "database is locked". A Connection passed
    in must not be in a transaction yet: the upgrade is a transaction of its own.
    """
    from alembic import command

    config = alembic_config()
    opened = bind.connect() if isinstance(bind, Engine) else nullcontext(bind)
    with opened as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            if postgres:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
