"""Seconds that one search takes for hostile queries on a small archive, on both databases.

Run by hand: python -m benchmarks.hostile_queries --db URL [--cap N] [--only NAME...]. URL is a
PostgreSQL database of its own (postgresql+psycopg://postgres@127.0.0.1/NAME; its tables are
emptied); a temporary SQLite file is timed too. The archive is 9 articles of about 700 words,
as the attacker review's was. The queries are the review's (one word repeated up to 2,400 times,
under the 10,000-character cap) and queries of N distinct words (the cap) that every article
holds, ANDed and ORed, each fetching a page of 20 and one of 500 with snippets, as the web UI and
/api/articles do. A query the parser refuses prints the refusal and how long that took.
"""

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS
from crawler.config.errors import QueryError
from storage.articles import NewArticle, OutletInfo, insert_article, sync_outlets
from storage.db import open_database
from storage.queries import ArticleFilter

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ARTICLES = 9
VOCABULARY = 600


def vocabulary() -> list[str]:
    """Made-up lower-case words, distinct, none a stop word or an acronym."""
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "de", "pi", "nal", "go", "zu"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(3)))
    return sorted(words)


def article_text(rng: random.Random, words: list[str]) -> str:
    """Every word of the vocabulary once, with CISMOA, "the" and "a" among them."""
    body = words + ["CISMOA"] * 5 + ["the"] * 40 + ["a"] * 30
    rng.shuffle(body)
    return " ".join(body) + "."


def build(url: str, words: list[str]) -> None:
    rng = random.Random(11)
    with open_database(url, create=True) as db, db.write() as s:
        sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
        for i in range(ARTICLES):
            when = NOW - timedelta(days=i)
            insert_article(
                s,
                NewArticle(
                    url=f"https://dawn.example/{i}",
                    url_key=f"dawn.example/{i}",
                    outlet_id="dawn",
                    title=f"CISMOA report {i}",
                    text=article_text(rng, words),
                    published=when,
                    date_source="page",
                    score=1.0,
                    simhash=(i + 1) * 0x0101_0101_0101_0101,
                    language="en",
                    matches=[],
                ),
                when,
            )


def queries(cap: int, words: list[str]) -> Iterator[tuple[str, str]]:
    yield "'CISMOA ' * 1400", "CISMOA " * 1400
    yield "'the ' * 2400", "the " * 2400
    for n in (250, 1000, 2000):
        yield f"'a ' * {n}", "a " * n
    yield f"{cap} distinct words ANDed", " ".join(words[:cap])
    yield f"{cap} distinct words ORed", " OR ".join(words[:cap])
    yield f"{cap + 1} distinct words ANDed", " ".join(words[: cap + 1])


def timed(archive: Archive, query: str, limit: int) -> str:
    start = time.perf_counter()
    try:
        found = len(archive.search(ArticleFilter(query=query, limit=limit), NOW))
    except QueryError as exc:
        return f"{time.perf_counter() - start:7.3f} s  refused: {str(exc)[-90:]}"
    return f"{time.perf_counter() - start:7.3f} s  {found} results"


def empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL of its own (emptied)")
    parser.add_argument("--cap", type=int, default=200, help="distinct words of the cap query")
    parser.add_argument("--only", nargs="*", default=[], help="run only these database kinds")
    parser.add_argument("--limits", type=int, nargs="*", default=[20])
    args = parser.parse_args()
    words = vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'hostile.db'}", "postgresql": args.db}
        for kind, url in urls.items():
            if args.only and kind not in args.only:
                continue
            if kind == "postgresql":
                empty_postgres(url)
            build(url, words)
            with open_database(url) as db:
                archive = Archive(db, RuleSet(DEFAULT_TOPICS))
                for name, query in queries(args.cap, words):
                    for limit in args.limits:
                        print(
                            f"{kind:10} limit {limit:3}  {name:28} {timed(archive, query, limit)}"
                        )


if __name__ == "__main__":
    main()
