"""Articles written together (crawler.pipelines.ArticleWriter): each is stored and remembered
as if written alone, and one that fails takes none of the others with it."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.outbox import AlertQueue
from crawler.pipelines import ArticleWriter
from storage.articles import (
    NewArticle,
    NewMatch,
    insert_article,
    known_url_keys,
    near_duplicate_of,
)
from storage.db import Database
from storage.models import AlertRow, ArticleRow
from tests.test_storage import db_for

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def article(key: str, simhash: int) -> NewArticle:
    return NewArticle(
        url=f"https://{key}",
        url_key=key,
        outlet_id="dawn",
        title=f"T {key}",
        text="body " * 50,
        published=NOW - timedelta(hours=1),
        date_source="page",
        score=2.0,
        simhash=simhash,
        matches=[NewMatch("fatf", "FATF", 0, 2)],
        aliases=[f"{key}?amp=1"],
    )


async def write_all(db: Database, articles: list[NewArticle], fail: str = "") -> list[object]:
    def store(session: Session, new: NewArticle) -> int | None:
        row = insert_article(session, new, NOW)
        if new.url_key == fail:  # a hook failing for this article, after its rows were added
            raise ValueError(f"hook failed for {fail}")
        return row.id if row else None

    writer: ArticleWriter[NewArticle, int | None] = ArticleWriter(db, store)
    return await asyncio.gather(*(writer.write(a) for a in articles), return_exceptions=True)


def test_articles_written_together_are_each_stored_and_linked(db_url: str) -> None:
    db = db_for(db_url)
    copies = [article(f"a/{i}", 0xABCD_0000_1234_5678 ^ (1 << i)) for i in range(12)]
    again = article("a/0", 0xABCD_0000_1234_5678)  # the same URL in the same batch
    results = asyncio.run(write_all(db, [*copies, again, article("b", 0x1111_2222_3333_4444)]))
    assert all(isinstance(r, int) for r in results[:12]) and results[12] is None
    with db.read() as s:
        rows = s.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        assert [r.url_key for r in rows] == [*(c.url_key for c in copies), "b"]
        first = rows[0].id
        assert {r.duplicate_of_id for r in rows[1:12]} == {first}  # linked within the batch
        assert rows[12].duplicate_of_id is None
        assert near_duplicate_of(s, 0xABCD_0000_1234_5678) == first
        keys = [*(c.url_key for c in copies), "a/3?amp=1", "b"]
        assert known_url_keys(s, keys, NOW) == set(keys)


def test_one_failing_article_fails_alone_and_is_not_remembered(db_url: str) -> None:
    db = db_for(db_url)
    batch = [article(f"c/{i}", (i + 1) << 40) for i in range(6)]
    results = asyncio.run(write_all(db, batch, fail="c/2"))
    assert isinstance(results[2], ValueError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    with db.read() as s:
        stored = set(s.scalars(select(ArticleRow.url_key)))
        assert stored == {f"c/{i}" for i in range(6)} - {"c/2"}
        # neither it nor its alias is remembered: the next crawl fetches it again
        assert known_url_keys(s, ["c/2", "c/2?amp=1", "c/1"], NOW) == {"c/1"}


def test_the_reason_reaches_each_caller() -> None:
    async def run() -> None:
        def store(session: Session, job: int) -> int:
            raise RuntimeError(f"no {job}")

        db = Database("sqlite://")
        writer: ArticleWriter[int, int] = ArticleWriter(db, store)
        for outcome in await asyncio.gather(
            *(writer.write(i) for i in range(3)), return_exceptions=True
        ):
            assert isinstance(outcome, RuntimeError)
        with pytest.raises(RuntimeError, match="no 7"):
            await writer.write(7)  # the writer still works after a failed batch
        db.dispose()

    asyncio.run(run())


@dataclass(frozen=True)
class Subscription:
    """An immediate email subscription to FATF (what alerts/ reads of one)."""

    email: str = "desk@example.org"
    notify: tuple[str, ...] = ()
    key: str = "desk@example.org"
    immediate: bool = True
    digest: str = "none"
    timezone: str = "UTC"
    topics: tuple[str, ...] | None = ("fatf",)
    min_score: float = 0.0


def test_the_alerts_queued_are_counted_once_when_a_batch_is_written_again(db_url: str) -> None:
    # `mediawatch crawl` says "N alerts queued" from this count: an article written in a batch
    # that failed, then again alone, is one alert, not two.
    db = db_for(db_url)
    queue = AlertQueue([Subscription()])

    def store(session: Session, new: NewArticle) -> bool:
        row = insert_article(session, new, NOW)
        assert row is not None
        queue.enqueue_for_article(session, row, NOW)
        if new.url_key == "d/2":
            raise ValueError("hook failed for d/2")
        return True

    async def write() -> list[object]:
        writer: ArticleWriter[NewArticle, bool] = ArticleWriter(db, store)
        # hashes far apart: five stories, not copies of one (a story alerts once)
        batch = [article(f"d/{i}", (0x9E37_79B9_7F4A_7C15 * (i + 1)) % (1 << 63)) for i in range(5)]
        return await asyncio.gather(*(writer.write(a) for a in batch), return_exceptions=True)

    results = asyncio.run(write())
    assert [r is True for r in results] == [True, True, False, True, True]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 4
    assert queue.queued == 4


def test_an_article_over_a_postgresql_limit_fails_alone(pg_url: str) -> None:
    # A page of 120,000 distinct words (a data dump; pages up to 10 MB are fetched) is too
    # much for one tsvector, which PostgreSQL reports as an OperationalError, as it does a
    # lost connection: that article fails, the others written with it are stored.
    db = db_for(pg_url)
    batch = [article(f"f/{i}", (0x9E37_79B9_7F4A_7C15 * (i + 1)) % (1 << 63)) for i in range(4)]
    big = article("f/big", 0x0F0F_0F0F_0F0F_0F0F)
    big.text = " ".join(f"w{i:x}" for i in range(120_000))
    batch.insert(2, big)
    results = asyncio.run(write_all(db, batch))
    assert isinstance(results[2], OperationalError), results[2]
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    with db.read() as s:
        assert set(s.scalars(select(ArticleRow.url_key))) == {f"f/{i}" for i in range(4)}
