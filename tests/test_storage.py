"""Storage on SQLite and on the local PostgreSQL, through the same code."""

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from storage.articles import (
    NewArticle,
    NewMatch,
    OutletInfo,
    insert_article,
    known_url_keys,
    record_seen,
    sync_outlets,
)
from storage.db import Database
from storage.models import SeenUrlRow
from storage.outbox import queue_alerts
from storage.queries import ArticleFilter, list_articles, near_duplicates
from storage.statuses import SeenOutcome

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def db_for(url: str) -> Database:
    db = Database(url)
    db.upgrade()
    db.upgrade()  # idempotent
    with db.write() as s:
        sync_outlets(
            s,
            [OutletInfo("dawn", "Dawn", "PK", "en"), OutletInfo("hindu", "The Hindu", "IN", "en")],
        )
    return db


def new(key: str, simhash: int, outlet: str = "dawn", **kw: object) -> NewArticle:
    return NewArticle(
        url=f"https://{key}",
        url_key=key,
        outlet_id=outlet,
        title=f"T {key}",
        text="body " * 50,
        published=NOW - timedelta(hours=1),
        date_source="page",
        score=2.0,
        simhash=simhash,
        matches=[NewMatch("fatf", "FATF", 0, 2)],
        **kw,
    )  # type: ignore[arg-type]


def test_schema_and_migrations(db_url: str) -> None:
    db = db_for(db_url)
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "articles",
        "matches",
        "seen_urls",
        "crawl_runs",
        "alerts",
        "digests",
        "outlets",
    } <= tables


def test_articles_are_unique_by_url_key(db_url: str) -> None:
    db = db_for(db_url)
    with db.write() as s:
        first = insert_article(s, new("e.org/a", 1 << 63 | 12345, aliases=["e.org/a?x"]), NOW)
        assert first is not None and first.matches[0].term == "FATF"
        assert insert_article(s, new("e.org/a", 99), NOW) is None
    with db.read() as s:
        assert known_url_keys(s, ["e.org/a", "e.org/a?x", "e.org/b"], NOW) == {
            "e.org/a",
            "e.org/a?x",
        }
        assert len(list_articles(s, ArticleFilter())) == 1


def test_near_duplicates_link_to_the_first_copy(db_url: str) -> None:
    db = db_for(db_url)
    base = 0xF0F0_1234_5678_9ABC
    with db.write() as s:
        a = insert_article(s, new("e.org/1", base), NOW)
        b = insert_article(s, new("f.org/1", base ^ 0b101, outlet="hindu"), NOW)  # 2 bits apart
        c = insert_article(s, new("g.org/1", base ^ 0xFFFF_0000), NOW)  # far
        assert a and b and c
        assert b.duplicate_of_id == a.id and c.duplicate_of_id is None
        assert [d.id for d in near_duplicates(s, a)] == [b.id]


def test_seen_urls_keep_their_first_outcome(db_url: str) -> None:
    db = db_for(db_url)
    with db.write() as s:
        record_seen(s, ["e.org/old", "e.org/old"], "dawn", "too_old", NOW)
        record_seen(s, ["e.org/old"], "dawn", "gone", NOW)
    with db.read() as s:
        assert known_url_keys(s, ["e.org/old"], NOW) == {"e.org/old"}


def test_transient_outcomes_are_retried_on_the_schedule_then_remembered(db_url: str) -> None:
    db = db_for(db_url)
    with db.write() as s:
        record_seen(s, ["e.org/late"], "dawn", SeenOutcome.GONE, NOW)
        record_seen(s, ["e.org/wall"], "dawn", SeenOutcome.CHALLENGE, NOW)
    with db.read() as s:
        assert known_url_keys(s, ["e.org/late", "e.org/wall"], NOW) == {"e.org/late", "e.org/wall"}
        assert known_url_keys(s, ["e.org/late"], NOW + timedelta(minutes=10, seconds=1)) == set()
    # the next fetches still fail: one hour, then one day after first seen, then for good
    for attempt, (fetched_at, free_at) in enumerate(
        [(timedelta(minutes=11), timedelta(hours=1)), (timedelta(hours=2), timedelta(days=1))]
    ):
        with db.write() as s:
            record_seen(s, ["e.org/wall"], "dawn", SeenOutcome.NOT_ARTICLE, NOW + fetched_at)
        with db.read() as s:
            soon = NOW + free_at - timedelta(seconds=1)
            assert known_url_keys(s, ["e.org/wall"], soon) == {"e.org/wall"}, attempt
            assert known_url_keys(s, ["e.org/wall"], NOW + free_at) == set()
    with db.write() as s:
        record_seen(s, ["e.org/wall"], "dawn", SeenOutcome.CHALLENGE, NOW + timedelta(days=2))
    with db.read() as s:
        assert known_url_keys(s, ["e.org/wall"], NOW + timedelta(days=400)) == {"e.org/wall"}
    # the article went live: stored replaces gone, and a later 404 does not undo that
    with db.write() as s:
        assert insert_article(s, new("e.org/late", 77), NOW + timedelta(minutes=11))
        record_seen(s, ["e.org/late"], "dawn", SeenOutcome.GONE, NOW + timedelta(days=1))
    with db.read() as s:
        row = s.get(SeenUrlRow, "e.org/late")
        assert row is not None and row.outcome == "stored" and row.retry_after is None
        assert row.article_id is not None


def test_one_alert_per_story_and_subscription(db_url: str) -> None:
    db = db_for(db_url)
    base = 0x1234_5678_9ABC_DEF0
    with db.write() as s:
        a = insert_article(s, new("e.org/1", base), NOW)
        assert a is not None
        assert queue_alerts(s, a, ["desk@e.org", "ops@e.org"], NOW) == 2
        assert queue_alerts(s, a, ["desk@e.org"], NOW) == 0
        copy = insert_article(s, new("f.org/1", base ^ 1, outlet="hindu"), NOW)
        assert copy is not None
        assert queue_alerts(s, copy, ["desk@e.org"], NOW) == 0


def test_filters(db_url: str) -> None:
    db = db_for(db_url)
    with db.write() as s:
        insert_article(s, new("e.org/1", 1), NOW)
        insert_article(s, new("e.org/2", 1 << 40, outlet="hindu"), NOW)
    with db.read() as s:
        assert len(list_articles(s, ArticleFilter(outlet="hindu"))) == 1
        assert len(list_articles(s, ArticleFilter(topic="fatf"))) == 2
        assert len(list_articles(s, ArticleFilter(topic="ttp"))) == 0
        assert len(list_articles(s, ArticleFilter(since=NOW))) == 0
        assert len(list_articles(s, ArticleFilter(min_score=3))) == 0


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'locks.db'}"
    db_for(url)
    holder, other = Database(url), Database(url)
    holding, release, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        with holder.write() as s:
            record_seen(s, ["e.org/held"], "dawn", "stored", NOW)
            holding.set()
            release.wait(10)

    def write_too() -> None:
        try:
            with other.write() as s:
                # read-then-write: fails at once with "database is locked" without BEGIN IMMEDIATE
                known_url_keys(s, ["e.org/x"], NOW)
                record_seen(s, ["e.org/second"], "dawn", "stored", NOW)
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    t1 = threading.Thread(target=hold)
    t1.start()
    assert holding.wait(10)
    t2 = threading.Thread(target=write_too)
    t2.start()
    release.set()
    t1.join(10)
    t2.join(30)
    assert errors == []
    with other.read() as s:
        assert known_url_keys(s, ["e.org/held", "e.org/second"], NOW) == {
            "e.org/held",
            "e.org/second",
        }


def test_an_alert_is_claimed_by_one_sender_only(db_url: str) -> None:
    from storage.outbox import claim_alert, due_alerts, lease_clock

    db = db_for(db_url)
    lease = timedelta(minutes=10)
    with db.write() as s:
        a = insert_article(s, new("e.org/1", 7), NOW)
        assert a is not None
        queue_alerts(s, a, ["desk@e.org"], NOW)
    with db.read() as s:
        [alert] = due_alerts(s, NOW)
    with db.write() as s:
        assert claim_alert(s, alert.id, NOW, lease, NOW)
    with db.write() as s:
        assert not claim_alert(s, alert.id, NOW, lease, NOW)  # a second sender backs off
    with db.read() as s:
        assert due_alerts(s, NOW) == []
        # the lease of a sender that died ends (leases run on the wall clock when NOW is
        # earlier), and the alert is due again
        assert [x.id for x in due_alerts(s, lease_clock(NOW) + lease)] == [alert.id]


def test_a_digest_is_claimed_by_one_sender_only(db_url: str) -> None:
    from storage.outbox import claim_digest, finish_digest, lease_clock

    db = db_for(db_url)
    start, end = NOW - timedelta(days=1), NOW
    with db.write() as s:
        first = claim_digest(s, "desk@e.org", "2026-11-26", start, end, 3, NOW)
        assert first is not None
        first_id = first.id
    with db.write() as s:
        assert claim_digest(s, "desk@e.org", "2026-11-26", start, end, 3, NOW) is None
    later = lease_clock(NOW) + timedelta(minutes=11)  # the first sender died; its lease is over
    with db.write() as s:
        again = claim_digest(s, "desk@e.org", "2026-11-26", start, end, 3, later)
        assert again is not None and again.id == first_id
        finish_digest(s, first_id, "sent", later)
    with db.write() as s:
        assert claim_digest(s, "desk@e.org", "2026-11-26", start, end, 3, later) is None
