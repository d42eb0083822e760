"""Articles per second through extraction + scoring + storage, next to bare trafilatura.

Run by hand: python -m benchmarks.pipeline [N]. Pages are the real South Asian pages in
../shared/realworld (plus the demo op-ed), each repeated with a unique closing paragraph
until there are N (default 600). The pipeline part is what a crawl does after download:
extraction in the worker processes (as many in flight as the crawler keeps), rule matching,
scoring and the database write (batched, as StorePipeline writes). CPU seconds count every
process (workers included).
"""

import asyncio
import gzip
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

from alerts.assessment import assess
from alerts.rules import RuleSet
from crawler.config import DEFAULT_TOPICS
from crawler.extraction.pool import Extractor
from crawler.pipelines import ArticleWriter
from storage.articles import NewArticle, NewMatch, OutletInfo, insert_article, sync_outlets
from storage.db import Database, open_database
from storage.models import ArticleRow

REALWORLD = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld"
IN_FLIGHT = 16


def pages(n: int) -> list[tuple[str, str]]:
    base = [
        gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        for p in sorted(REALWORLD.glob("*/*.html.gz"))
    ]
    if not base:
        sys.exit(f"no pages under {REALWORLD}")
    out = []
    for i in range(n):
        html = base[i % len(base)]
        unique = f"<p>Closing note number {i}: the desk will follow up on this story.</p></body>"
        out.append((html.replace("</body>", unique, 1), f"https://bench.example/{i}"))
    return out


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of another live process (the workers are the forkserver's children, not
    ours, so RUSAGE_CHILDREN never sees them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_pipeline(
    docs: list[tuple[str, str]], db: Database, workers: int
) -> tuple[int, float]:
    extractor = Extractor(workers)
    rules = RuleSet(DEFAULT_TOPICS)
    # as StorePipeline: the articles waiting for the database are written together
    writer: ArticleWriter[NewArticle, ArticleRow | None] = ArticleWriter(
        db, lambda s, new: insert_article(s, new, datetime.now(UTC))
    )
    stored = 0
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one(html: str, url: str) -> None:
        nonlocal stored
        async with semaphore:
            x = await extractor.extract(html, url, ())
        if x is None:
            return
        assessment = assess(x.title, x.text, rules)
        new = NewArticle(
            url=url,
            url_key=url,
            outlet_id="bench",
            title=x.title,
            text=x.text,
            published=x.published,
            date_source="page",
            score=assessment.total,
            simhash=x.simhash,
            matches=[
                NewMatch(m.topic, m.term, m.title_count, m.text_count) for m in assessment.matches
            ],
        )
        if await writer.write(new) is not None:
            stored += 1

    await asyncio.gather(*(one(h, u) for h, u in docs))
    worker_cpu = sum(process_cpu(pid) for pid in extractor.worker_pids())
    extractor.close()
    return stored, worker_cpu


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    docs = pages(n)
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_database(f"sqlite:///{tmp}/bench.db") as db,
    ):
        with db.write() as s:
            sync_outlets(s, [OutletInfo("bench", "Bench", "PK", "en")])
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        stored, worker_cpu = asyncio.run(run_pipeline(docs, db, workers=2))
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0 + worker_cpu
    print(
        f"pipeline: {stored}/{n} stored in {wall:.1f}s wall, {cpu:.1f}s CPU (all processes; "
        f"{worker_cpu:.1f}s in the extraction workers)"
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    for html, url in docs:
        trafilatura.extract(html, url=url)
    bare_wall, bare_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"bare trafilatura.extract: {n} pages in {bare_wall:.1f}s wall, {bare_cpu:.1f}s CPU")
    print(
        f"pipeline: n={n} articles_per_s={stored / wall:.1f} bare_per_s={n / bare_wall:.1f} "
        f"cpu_ratio={cpu / bare_cpu:.2f}"
    )


if __name__ == "__main__":
    main()
