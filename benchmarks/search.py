"""Search speed on a large archive: SQLite FTS5 against a LIKE scan, same queries, same run.

Run by hand: python -m benchmarks.search [N] [DB_PATH] [--db URL] [--no-like]. With --db
(a PostgreSQL URL, e.g. postgresql+psycopg://postgres@127.0.0.1/bench) it runs on that
database instead of a SQLite file; the LIKE comparison is then an ILIKE scan (--no-like skips
it). Builds N (default 200,000) synthetic articles of about 800 words drawn from a
Zipf-distributed vocabulary seeded with real news words (a database already holding some
keeps them and adds the rest: a stopped build resumes), then times 100 queries taken from the
corpus itself: 25 rare words, 25 medium, 25 found in at least 10 % of articles, 25 two-word
phrases; each fetches the first page of 20 results, snippets included, as `mediawatch search` does.
"""

import gzip
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy
from sqlalchemy import bindparam, text

from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database, open_database
from storage.queries import ArticleFilter
from storage.searchkeys import article_keys

REALWORLD = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld"
WORDS_PER_ARTICLE = 800
VOCABULARY = 60_000


def vocabulary(rng: random.Random) -> list[str]:
    seen: Counter[str] = Counter()
    for page in REALWORLD.glob("*/*.html.gz"):
        html = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
        seen.update(w.lower() for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", html)))
    words = [w for w, _ in seen.most_common()]
    syllables = ["ka", "ra", "sta", "ban", "mir", "pur", "dal", "zeb", "tan", "gul", "shah", "nor"]
    while len(words) < VOCABULARY:
        words.append("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return list(dict.fromkeys(words))[:VOCABULARY]


def build(db: Database, n: int, rng: random.Random, start: int = 0) -> None:
    """Add articles start..n-1, committing every batch so a stopped build resumes."""
    words = vocabulary(rng)
    weights = numpy.array([1 / (rank + 1) ** 1.05 for rank in range(len(words))])
    cum = numpy.cumsum(weights)
    pool = numpy.array(words, dtype=object)
    draw = numpy.random.default_rng(rng.randrange(2**32))
    with db.write() as s:
        sync_outlets(s, [OutletInfo("bench", "Bench", "PK", "en")])
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    keyed = db.engine.dialect.name == "postgresql"  # as the ORM writes them (storage.models)
    batch = []
    for i in range(start, n):
        # Zipf-weighted picks, drawn in one vectorised step (random.choices took 3 ms a body).
        picks = numpy.searchsorted(cum, draw.random(WORDS_PER_ARTICLE) * cum[-1], side="right")
        body = " ".join(pool[numpy.minimum(picks, len(words) - 1)])
        when = now - timedelta(minutes=n - i)
        batch.append(
            {
                "url": f"https://bench.example/{i}",
                "key": f"bench.example/{i}",
                "title": body[:60],
                "text": body,
                "when": when.replace(tzinfo=None),
                "score": float(draw.random() * 5),
            }
        )
        if keyed:
            batch[-1]["keys"] = article_keys(body[:60], body)
        if len(batch) == 2000:
            with db.engine.begin() as conn:
                _insert(conn, batch, keyed)
            batch = []
            print(f"\r{i + 1} articles ({time.perf_counter() - t0:.0f}s)", end="", file=sys.stderr)
    if batch:
        with db.engine.begin() as conn:
            _insert(conn, batch, keyed)
    print(file=sys.stderr)


def _insert(conn, batch, keyed):  # type: ignore[no-untyped-def]
    conn.execute(
        text(
            "INSERT INTO articles (url, url_key, outlet_id, title, text, date_source, word_count, "
            "score, first_seen, published, simhash, sim_band0, sim_band1, sim_band2, sim_band3, "
            f"language{', search_keys' if keyed else ''}) VALUES (:url, :key, 'bench', :title, "
            ":text, 'page', 800, :score, :when, :when, 0, 0, 0, 0, 0, "
            f"'en'{', :keys' if keyed else ''})"
        ),
        batch,
    )


# How many articles hold a word, capped, as each database's own index counts it.
HITS = {
    "sqlite": "SELECT count(*) FROM (SELECT rowid FROM articles_fts "
    "WHERE articles_fts MATCH '\"' || :q || '\"' LIMIT :cap) AS hits",
    "postgresql": "SELECT count(*) FROM (SELECT id FROM articles "
    "WHERE search_vector @@ plainto_tsquery('english', :q) LIMIT :cap) AS hits",
}


def pick_queries(db: Database, n: int, rng: random.Random) -> dict[str, list[str]]:
    """Words by how many articles hold them (counted in the index), and real phrases."""
    with db.engine.connect() as conn:
        docs = [
            row[0]
            for row in conn.execute(
                # The same rows as `id % 2000 = 1`, looked up rather than scanned for.
                text("SELECT text FROM articles WHERE id IN :ids ORDER BY id").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": list(range(1, n + 1, 2000))},
            )
        ]
        words = sorted({w for d in docs for w in d.split()})
        rng.shuffle(words)
        counted = []
        for word in words[:600]:
            hits = conn.execute(text(HITS[db.engine.dialect.name]), {"q": word, "cap": n}).scalar()
            counted.append((int(hits or 0), word))
    counted.sort()
    common = [w for hits, w in counted if hits >= n // 10]
    middle = [w for hits, w in counted if n // 1000 <= hits < n // 50]
    phrases = []
    for d in docs:
        ws = d.split()
        i = rng.randrange(len(ws) - 1)
        phrases.append(f'"{ws[i]} {ws[i + 1]}"')
    print(
        f"hits: rare {counted[0][0]}-{counted[24][0]}, medium {len(middle)} words, "
        f"common {len(common)} words",
        file=sys.stderr,
    )
    return {
        "rare": [w for _, w in counted[:25]],
        "medium": middle[len(middle) // 2 - 12 : len(middle) // 2 + 13],
        "common": common[-25:],
        "phrase": phrases[:25],
    }


def time_queries(fn, queries: list[str], cpu: list[float] | None = None) -> list[float]:  # type: ignore[no-untyped-def]
    """Each query's wall time in ms; its CPU time (this process: SQLite's work included, not
    the waits of a loaded machine) appended to `cpu`."""
    times = []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.95) - 1, 0)]


def main() -> None:
    args = sys.argv[1:]
    url = None
    # --no-like: skip the LIKE comparison (each scan reads the whole table: minutes at 1M).
    like_too = "--no-like" not in args
    args = [a for a in args if a != "--no-like"]
    if "--db" in args:
        at = args.index("--db")
        url = args[at + 1]
        del args[at : at + 2]
    n = int(args[0]) if args else 200_000
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = args[1] if len(args) > 1 else f"{tmp}/search.db"
        with open_database(url or f"sqlite:///{path}") as db:
            with db.engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM articles")).scalar()
            if have != n:
                t0 = time.perf_counter()
                build(db, n, rng, start=int(have or 0))
                print(f"built {n} articles in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
                if db.engine.dialect.name == "postgresql":  # as autovacuum would, in time
                    with db.engine.begin() as conn:
                        conn.execute(text("ANALYZE articles"))
            queries = pick_queries(db, n, rng)
            archive = Archive(db, RuleSet(DEFAULT_TOPICS))
            cpu: list[float] = []
            fts = {
                k: time_queries(lambda q: archive.search(ArticleFilter(query=q, limit=20)), qs, cpu)
                for k, qs in queries.items()
            }
            all_fts = [t for ts in fts.values() for t in ts]

            like_op = "ILIKE" if db.engine.dialect.name == "postgresql" else "LIKE"

            def like(q: str) -> None:
                with db.engine.connect() as conn:
                    conn.execute(
                        text(
                            f"SELECT id FROM articles WHERE text {like_op} :p "
                            "ORDER BY first_seen DESC LIMIT 20"
                        ),
                        {"p": f"%{q.strip(chr(34))}%"},
                    ).all()

            like_times = (
                time_queries(like, [q for qs in queries.values() for q in qs]) if like_too else []
            )
            for kind, ts in fts.items():
                print(
                    f"{kind:7} n={len(ts):3} median_ms={statistics.median(ts):7.1f} "
                    f"p95_ms={p95(ts):7.1f} max_ms={max(ts):7.1f}"
                )
            like_field = ""
            if like_times:
                print(
                    f"LIKE    n={len(like_times):3} median_ms={statistics.median(like_times):7.1f} "
                    f"p95_ms={p95(like_times):7.1f}"
                )
                like_field = f" like_median_ms={statistics.median(like_times):.1f}"
            size = _size_per_article(db, n, path)
            print(
                f"search: db={db.engine.dialect.name} n={n}{size} p95_ms={p95(all_fts):.1f} "
                f"median_ms={statistics.median(all_fts):.1f} cpu_p95_ms={p95(cpu):.1f} "
                f"cpu_median_ms={statistics.median(cpu):.1f}{like_field}"
            )


def _size_per_article(db: Database, n: int, path: str) -> str:
    """bytes_per_article=B: the database's size on disk over the articles it holds."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            size = int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    else:
        with db.engine.connect() as conn:  # the write-ahead log's pages into the file
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        size = Path(path).stat().st_size
    return f" bytes_per_article={size // max(n, 1)}"


if __name__ == "__main__":
    main()
