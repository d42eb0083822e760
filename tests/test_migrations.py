"""Migrations on a database the previous release wrote: its rows survive, new checks hold.

Rows go in with raw SQL, as revision 0003's code wrote them, so these tests do not depend on
today's models. Each runs on SQLite and on the local PostgreSQL.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from storage.db import make_engine
from storage.migrate import MigrationRefused, alembic_config, head_revision, upgrade
from tests.conftest import run_cli, write_config

AT = "'2026-11-26 08:00:00'"
CRAWL_RUN = (
    "INSERT INTO crawl_runs (outlet_id, started_at, status, pages_fetched, items_discovered,"
    " new_articles, errors, error_kinds, error_samples)"
    f" VALUES ('dawn', {AT}, '{{status}}', 3, 5, 1, 0, '{{{{}}}}', '{{{{}}}}')"
)
PREVIOUS_RELEASE = [
    "INSERT INTO outlets (id, name, country, language) VALUES ('dawn', 'Dawn', 'PK', 'en')",
    "INSERT INTO articles (id, url, url_key, outlet_id, title, text, date_source, word_count,"
    " score, first_seen, simhash, sim_band0, sim_band1, sim_band2, sim_band3)"
    f" VALUES (1, 'https://e.org/1', 'e.org/1', 'dawn', 'Grey list', 'FATF keeps Pakistan',"
    f" 'page', 3, 2.0, {AT}, 7, 7, 0, 0, 0)",
    *(
        "INSERT INTO alerts (article_id, story_id, subscription, status, attempts,"
        f" next_attempt_at, created_at) VALUES (1, 1, '{who}@e.org', '{status}', 0, {AT}, {AT})"
        for who, status in [("a", "pending"), ("b", "sent"), ("c", "failed")]
    ),
    *(
        "INSERT INTO digests (subscription, period, period_start, period_end, entries, status,"
        f" attempts, created_at) VALUES ('d@e.org', '{status}', {AT}, {AT}, 1, '{status}', 0, {AT})"
        for status in ["pending", "sending", "sent", "empty", "failed"]
    ),
    *(
        CRAWL_RUN.format(status=status)
        for status in ["running", "ok", "failed", "interrupted", "shutdown", "cancelled"]
    ),
    *(
        "INSERT INTO seen_urls (url_key, outlet_id, outcome, article_id, seen_at)"
        f" VALUES ('e.org/{outcome}', 'dawn', '{outcome}', {article}, {AT})"
        for outcome, article in [
            ("stored", 1),
            ("too_old", "NULL"),
            ("not_article", "NULL"),
            ("gone", "NULL"),
            ("too_large", "NULL"),
            ("robots", "NULL"),
        ]
    ),
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database at revision 0003 (the previous release) holding what that release wrote."""
    engine = make_engine(db_url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        for statement in PREVIOUS_RELEASE:
            conn.execute(text(statement))
    yield engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def values(conn: Connection, table: str, column: str) -> list[str]:
    return sorted(conn.execute(text(f"SELECT {column} FROM {table}")).scalars())


def revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_upgrade_keeps_every_row_and_then_refuses_an_unknown_status(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(CRAWL_RUN.format(status="my_own_reason")))  # a custom CloseSpider
    upgrade(engine, "0004")
    assert revision(engine) == "0004"
    with engine.connect() as conn:
        assert values(conn, "alerts", "status") == ["failed", "pending", "sent"]
        assert values(conn, "digests", "status") == [
            "empty",
            "failed",
            "pending",
            "sending",
            "sent",
        ]
        assert values(conn, "crawl_runs", "status") == sorted(
            ["running", "ok", "failed", "interrupted", "shutdown", "cancelled", "failed"]
        )
        assert values(conn, "seen_urls", "outcome") == sorted(
            ["stored", "too_old", "not_article", "gone", "too_large", "robots"]
        )
    for statement in [
        "UPDATE alerts SET status = 'bounced' WHERE subscription = 'a@e.org'",
        "UPDATE digests SET status = 'queued' WHERE period = 'pending'",
        "UPDATE crawl_runs SET status = 'finished' WHERE status = 'ok'",
        "UPDATE seen_urls SET outcome = 'deleted' WHERE outcome = 'gone'",
    ]:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # 19 characters: too long for 0003's VARCHAR(16) on PostgreSQL
        conn.execute(text(CRAWL_RUN.format(status="closespider_timeout")))


def test_recreated_tables_keep_their_foreign_keys_and_search_triggers(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM articles WHERE id = 1"))
        assert values(conn, "alerts", "status") == []  # ON DELETE CASCADE
        assert (
            conn.execute(
                text("SELECT article_id FROM seen_urls WHERE outcome = 'stored'")
            ).scalar_one()
            is None
        )  # ON DELETE SET NULL
        if engine.dialect.name == "sqlite":
            triggers = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            ).scalars()
            assert list(triggers) == [
                "articles_fts_delete",
                "articles_fts_insert",
                "articles_fts_update",
            ]


def test_upgrade_refuses_unknown_alert_statuses_and_changes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alerts SET status = 'bounced' WHERE subscription = 'a@e.org'"))
        conn.execute(text("UPDATE seen_urls SET outcome = 'deleted' WHERE outcome = 'gone'"))
        conn.execute(text(CRAWL_RUN.format(status="my_own_reason")))
    with pytest.raises(MigrationRefused) as refused:
        upgrade(engine)
    message = str(refused.value)
    assert "alerts.status holds 'bounced' (1 rows)" in message
    assert "seen_urls.outcome holds 'deleted' (1 rows)" in message
    assert revision(engine) == "0003"
    with engine.connect() as conn:
        assert "my_own_reason" in values(conn, "crawl_runs", "status")
    with engine.begin() as conn:  # still no CHECK
        conn.execute(text("UPDATE digests SET status = 'queued' WHERE period = 'pending'"))


def test_downgrade_drops_the_checks(engine: Engine) -> None:
    upgrade(engine)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alerts SET status = 'bounced' WHERE subscription = 'a@e.org'"))
        assert values(conn, "digests", "status") == [
            "empty",
            "failed",
            "pending",
            "sending",
            "sent",
        ]


def test_a_refused_upgrade_is_one_clear_line_not_a_bug_report(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alerts SET status = 'bounced' WHERE subscription = 'a@e.org'"))
    config = write_config(tmp_path / "mediawatch.toml", {"database": {"url": db_url}})
    result = run_cli("--config", str(config), "status")
    assert result.returncode == 1
    assert "the database cannot be upgraded" in result.stderr
    assert "alerts.status holds 'bounced' (1 rows)" in result.stderr
    assert "a bug" not in result.stderr and "Traceback" not in result.stderr


def test_seen_retries_keep_old_outcomes_for_good_and_admit_challenge(engine: Engine) -> None:
    upgrade(engine, "0005")
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT outcome, attempts, retry_after FROM seen_urls")).all()
        assert sorted(rows) == sorted(
            (outcome, 1, None)
            for outcome in ["stored", "too_old", "not_article", "gone", "too_large", "robots"]
        )  # what 0004's code remembered stays remembered: no refetch storm on upgrade
        conn.execute(
            text(
                "INSERT INTO seen_urls (url_key, outlet_id, outcome, seen_at, retry_after)"
                f" VALUES ('e.org/c', 'dawn', 'challenge', {AT}, {AT})"
            )
        )
        conn.execute(text("DELETE FROM articles WHERE id = 1"))  # foreign key kept
        assert conn.execute(
            text("SELECT article_id FROM seen_urls WHERE outcome = 'stored'")
        ).all() == [(None,)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE seen_urls SET outcome = 'deleted' WHERE outcome = 'gone'"))
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with engine.connect() as conn:
        assert "not_article" in values(conn, "seen_urls", "outcome")
        assert "challenge" not in values(conn, "seen_urls", "outcome")


def test_alerts_queued_before_kinds_existed_are_not_queued_again(engine: Engine) -> None:
    """0007: the three alerts of the previous release keep their row and their once-only key."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from storage.models import ArticleRow
    from storage.outbox import queue_alerts

    upgrade(engine)
    with engine.connect() as conn:
        assert values(conn, "alerts", "dedupe_key") == [
            f"article:1:{who}@e.org:email" for who in "abc"
        ]
        assert values(conn, "alerts", "kind") == ["article"] * 3
    now = datetime(2026, 11, 27, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        article = session.get(ArticleRow, 1)
        assert article is not None
        assert queue_alerts(session, article, ["a@e.org", "b@e.org", "new@e.org"], now) == 1
    with engine.connect() as conn:
        assert len(values(conn, "alerts", "id")) == 4


def test_the_newest_migration_file_names_alembic_s_head() -> None:
    """Commands skip Alembic when the database is at head_revision(), read from file names: a
    migration whose file name does not start with its revision would be skipped."""
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_database_at_the_newest_migration_opens_without_loading_alembic(
    engine: Engine, db_url: str
) -> None:
    """The previous release's database is upgraded on open; after that, a command's open is
    one query (Alembic and its scripts cost a quarter of a second of every command)."""
    probe = (
        "import sys; from storage.db import open_database\n"
        f"with open_database({db_url!r}): pass\n"
        "print('alembic' in sys.modules)"
    )
    loads = [
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert loads == ["True", "False"]
    assert revision(engine) == head_revision()


def test_a_database_a_newer_version_upgraded_is_one_clear_line(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """A rolled-back deployment meets an archive upgraded by the newer version: the command
    says so and what to do, not "Can't locate revision" as a bug to report."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    config = write_config(tmp_path / "mediawatch.toml", {"database": {"url": db_url}})
    result = run_cli("--config", str(config), "status")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "a newer mediawatch has upgraded it (schema revision 0999" in result.stderr
    assert f"up to {head_revision()}" in result.stderr and "a bug" not in result.stderr
    assert revision(engine) == "0999"  # left as it was


def test_two_commands_opening_a_new_database_at_once_both_upgrade_it(db_url: str) -> None:
    """`mediawatch run` and a `mediawatch worker` started together on a new archive (db_url's
    PostgreSQL schema is emptied for each test): each migrates it, one after the other, rather
    than one failing on the other's tables."""
    probe = (
        "import sys, time; from storage.db import open_database\n"
        "start = float(sys.argv[1])\n"
        "time.sleep(max(start - time.time(), 0))\n"
        f"with open_database({db_url!r}): print('opened')\n"
    )
    start = time.time() + 3  # both past their imports, then at once
    both = [
        subprocess.Popen(
            [sys.executable, "-c", probe, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=120) for p in both]
    assert [out for out, _ in outcomes] == ["opened\n", "opened\n"], [e for _, e in outcomes]
    engine = make_engine(db_url)
    try:
        assert revision(engine) == head_revision()
    finally:
        engine.dispose()
