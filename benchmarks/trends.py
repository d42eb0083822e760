"""Trends speed on a large archive: the grouped story count behind `mediawatch trends`,
/trends and /api/trends.

Run by hand: python -m benchmarks.trends [N] [DB_PATH] [--covering-index]. Builds N (default
200,000) articles first seen over the last 365 days, in order (as crawls store them), in a
temporary SQLite file: 40 outlets in 5 countries and 4 languages, one in four a near-duplicate
of an earlier story, two in five matching one or more of the default topics (each with one to
three matched terms), texts of about 4 KB so rows are as long as real ones (the columns the
count reads sit after the text). Then times the query as the CLI runs it (dense rows for every
period and key) over the default 90 days and over 30, by topic, outlet, country and language,
per day and per week: 10 rounds of 8 variants, after one warm-up round. Prints
`trends: articles=N p95_ms=X`, and on stderr each variant's time and a whole year's (not in the
p95: a wider window reads more).

--covering-index first adds COVERING_INDEX (in the schema since migration 0011): an article's story,
dates, outlet and language readable without its row, whose text sits before those columns.
"""

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from crawler.archive.trends import trend_query, trend_rows
from crawler.config import DEFAULT_TOPICS
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database, open_database

COUNTRIES = [("PK", "en"), ("PK", "ur"), ("IN", "en"), ("BD", "bn"), ("LK", "en")]
OUTLETS = [(f"outlet-{i:02d}", *COUNTRIES[i % len(COUNTRIES)]) for i in range(40)]
VARIANTS = [
    ("topic", "90d", "day"),
    ("outlet", "90d", "day"),
    ("country", "90d", "day"),
    ("language", "90d", "day"),
    ("topic", "90d", "week"),
    ("outlet", "90d", "week"),
    ("topic", "30d", "day"),
    ("country", "30d", "day"),
]
YEAR = [("topic", "365d", "week"), ("outlet", "365d", "day")]
COVERING_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_articles_story_dates ON articles "
    "(id, published, first_seen, duplicate_of_id, outlet_id, language)"
)


def build(db: Database, n: int, rng: random.Random) -> None:
    """N articles inserted in batches of plain SQL (the ORM would take many minutes)."""
    with db.write() as s:
        sync_outlets(s, [OutletInfo(o, o, c, lang) for o, c, lang in OUTLETS])
    topics = [t.id for t in DEFAULT_TOPICS]
    filler = " ".join(
        rng.choice(["policy", "province", "minister", "said", "week"]) for _ in range(2000)
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    roots: list[int] = []
    with db.engine.begin() as conn:
        articles, matches = [], []
        for i in range(1, n + 1):
            outlet, _, language = OUTLETS[rng.randrange(len(OUTLETS))]
            # stored in order, as a crawl stores them: first seen now, published up to 36 h
            # earlier
            seen = now - timedelta(days=365) * (1 - i / n)
            when = seen - timedelta(seconds=rng.randrange(36 * 3600))
            duplicate = rng.choice(roots[-500:]) if roots and rng.random() < 0.25 else None
            if duplicate is None:
                roots.append(i)
            start = rng.randrange(len(filler) - 4000)
            articles.append(
                {
                    "id": i,
                    "url": f"https://{outlet}.example/{i}",
                    "key": f"{outlet}.example/{i}",
                    "outlet": outlet,
                    "title": f"Article {i}",
                    # one in ten pages gives no date: counted by when it was first seen
                    "published": None if rng.random() < 0.1 else when,
                    "language": language,
                    "text": filler[start : start + 4000],
                    "first_seen": seen,
                    "dup": duplicate,
                }
            )
            if rng.random() < 0.4:
                for topic in rng.sample(topics, rng.choice([1, 1, 1, 2])):
                    for term in range(rng.randint(1, 3)):
                        matches.append({"a": i, "topic": topic, "term": f"{topic}-{term}"})
            if len(articles) == 5000:
                _flush(conn, articles, matches)
                articles, matches = [], []
                print(f"\r{i} articles ({time.perf_counter() - t0:.0f}s)", end="", file=sys.stderr)
        _flush(conn, articles, matches)
    print(file=sys.stderr)


def _flush(
    conn: object, articles: list[dict[str, object]], matches: list[dict[str, object]]
) -> None:
    if articles:
        conn.execute(  # type: ignore[attr-defined]
            text(
                "INSERT INTO articles (id, url, url_key, outlet_id, title, published, date_source,"
                " language, text, word_count, score, first_seen, simhash, sim_band0, sim_band1,"
                " sim_band2, sim_band3, duplicate_of_id) VALUES (:id, :url, :key, :outlet, :title,"
                " :published, 'page', :language, :text, 700, 2.5, :first_seen, 0, 0, 0, 0, 0, :dup)"
            ),
            articles,
        )
    if matches:
        conn.execute(  # type: ignore[attr-defined]
            text(
                "INSERT INTO matches (article_id, topic, term, title_count, text_count)"
                " VALUES (:a, :topic, :term, 0, 2)"
            ),
            matches,
        )


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args[1]) if len(args) > 1 else Path(tmp) / "trends.db"
        url = f"sqlite:///{path}"
        fresh = not path.exists()
        with open_database(url) as db:
            if fresh:
                build(db, n, random.Random(11))
            if "--covering-index" in sys.argv:
                with db.engine.begin() as conn:
                    conn.execute(text(COVERING_INDEX))
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            topics = [t.id for t in DEFAULT_TOPICS]
            timings, cpu = [], []
            for round_ in range(11):
                for by, since, interval in VARIANTS:
                    q = trend_query(datetime.now(UTC), topics, None, by, since, interval)
                    t0, c0 = time.perf_counter(), time.process_time()
                    rows = trend_rows(db, q)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if round_:  # the first round warms the page cache
                        timings.append(elapsed)
                        cpu.append((time.process_time() - c0) * 1000)
                    if round_ == 1:
                        total = sum(r["stories"] for r in rows)
                        print(
                            f"  by {by:8} {since:>4} per {interval:4}: {elapsed:6.1f} ms, "
                            f"{len(rows)} rows, {total} story-periods",
                            file=sys.stderr,
                        )
            for by, since, interval in YEAR:
                q = trend_query(datetime.now(UTC), topics, None, by, since, interval)
                t0 = time.perf_counter()
                trend_rows(db, q)
                elapsed = (time.perf_counter() - t0) * 1000
                print(
                    f"  by {by:8} {since:>4} per {interval:4}: {elapsed:6.1f} ms", file=sys.stderr
                )
        p95 = statistics.quantiles(timings, n=20)[-1]
        print(
            f"  median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms; "
            f"CPU time p95 {statistics.quantiles(cpu, n=20)[-1]:.0f} ms, median "
            f"{statistics.median(cpu):.0f} ms (on a busy machine the wall clock waits for a CPU)",
            file=sys.stderr,
        )
        print(f"trends: articles={n} p95_ms={p95:.0f}")


if __name__ == "__main__":
    main()
