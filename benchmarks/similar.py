"""More like this at scale: time storage.similar on a large synthetic archive.

Run by hand: python -m benchmarks.similar [N] [DB_URL_OR_PATH]. Builds (once, if the database
does not already hold N articles) the same synthetic archive as benchmarks/search.py, N
articles (default 200,000) of about 800 words from a Zipf-distributed vocabulary, then asks
for the 10 most similar articles of 50 articles picked at random, as the article page does,
and prints `similar: n=N median_ms=X p95_ms=Y max_ms=Z cpu_median_ms=C` (C: this process's
CPU time, SQLite's included; on a loaded machine the wall-clock figures include waiting) and
cold_ms (the first article, before any term's count is cached). A PostgreSQL URL works too
(postgresql+psycopg://...); it is ANALYZEd first, as autovacuum would have done.
"""

import random
import statistics
import sys
import tempfile
import time

from sqlalchemy import text

from benchmarks.search import build, p95
from storage.db import open_database
from storage.similar import similar_articles


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        where = sys.argv[2] if len(sys.argv) > 2 else f"{tmp}/similar.db"
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
            with db.engine.connect() as conn:
                top = int(conn.execute(text("SELECT max(id) FROM articles")).scalar() or 0)
            picks = [rng.randint(1, top) for _ in range(50)]
            times, cpu, found = [], [], []
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
                f"listed_median={statistics.median(found):.0f}"
            )


if __name__ == "__main__":
    main()
