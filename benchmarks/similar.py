"""More like this at scale: time storage.similar on a large synthetic archive.

Run by hand: python -m benchmarks.similar [N] [DB_URL_OR_PATH]. Builds (once, if the database
does not already hold N articles) the same synthetic archive as benchmarks/search.py, N
articles (default 200,000) of about 800 words from a Zipf-distributed vocabulary, then asks
for the 10 most similar articles of 50 articles picked at random, as the article page does,
and prints `similar: n=N median_ms=X p95_ms=Y max_ms=Z cpu_median_ms=C` (C: this process's
CPU time, SQLite's included; on a loaded machine the wall-clock figures include waiting) and
cold_ms (the first article of the process, before any term's count is cached; its row is
loaded first, as the article page does before it asks, so cold_ms leaves out SQLAlchemy's
one-time set-up of the models, which any first request pays). A PostgreSQL
URL works too (postgresql+psycopg://...); it is ANALYZEd first, as autovacuum would have done.

The document-frequency snapshot is taken first if the archive has none or it is stale, as the
daemon would (`snapshot: n=N taken_s=S terms=T`); with `--no-snapshot` it is dropped instead,
to time the path of a new archive (every term counted in the index).
"""

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import text

from benchmarks.search import build, p95
from storage.db import open_database
from storage.models import ArticleRow
from storage.similar import SNAPSHOT_KEY, refresh_term_frequencies, similar_articles


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--no-snapshot"]
    with_snapshot = len(args) == len(sys.argv) - 1
    n = int(args[0]) if args else 200_000
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        where = args[1] if len(args) > 1 else f"{tmp}/similar.db"
        url = where if "://" in where else f"sqlite:///{where}"
        with open_database(url) as db:
            with db.engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM articles")).scalar()
            if have != n:
                t0 = time.perf_counter()
                build(db, n, random.Random(7))
                print(f"built {n} articles in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
            if db.dialect == "postgresql":
                with db.engine.begin() as conn:
                    conn.execute(text("ANALYZE articles"))
            if with_snapshot:
                t0 = time.perf_counter()
                taken = refresh_term_frequencies(db, datetime.now(UTC))
                if taken is not None:
                    with db.engine.connect() as conn:
                        terms = conn.execute(text("SELECT count(*) FROM term_frequencies"))
                        print(
                            f"snapshot: n={taken.articles} "
                            f"taken_s={time.perf_counter() - t0:.1f} terms={terms.scalar()}"
                        )
            else:
                with db.engine.begin() as conn:
                    conn.execute(text("DELETE FROM term_frequencies"))
                    conn.execute(text("DELETE FROM state WHERE key = :k"), {"k": SNAPSHOT_KEY})
            with db.engine.connect() as conn:
                top = int(conn.execute(text("SELECT max(id) FROM articles")).scalar() or 0)
            picks = [rng.randint(1, top) for _ in range(50)]
            times, cpu, found = [], [], []
            with db.read() as session:
                session.get(ArticleRow, picks[0])  # the page shows the article first
            t0 = time.perf_counter()
            with db.read() as session:
                similar_articles(session, picks[0])  # a cold start: no term counted yet
            cold = (time.perf_counter() - t0) * 1000
            for article_id in picks:
                t0, c0 = time.perf_counter(), time.process_time()
                with db.read() as session:
                    found.append(len(similar_articles(session, article_id)))
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            print(
                f"similar: n={n} median_ms={statistics.median(times):.1f} "
                f"p95_ms={p95(times):.1f} max_ms={max(times):.1f} "
                f"cpu_median_ms={statistics.median(cpu):.1f} cold_ms={cold:.0f} "
                f"listed_median={statistics.median(found):.0f} "
                f"snapshot={'yes' if with_snapshot else 'no'}"
            )


if __name__ == "__main__":
    main()
