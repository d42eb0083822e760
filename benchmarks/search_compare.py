"""Two versions of search on one archive, each query sent to both in turn.

Run by hand: python -m benchmarks.search_compare CHECKOUT_A CHECKOUT_B --db URL [--passes N]
[--cold]. CHECKOUT_A and CHECKOUT_B are two checkouts of this repository (`git worktree add
/tmp/before HEAD~1`); the archive is one benchmarks.search built (it picks the same queries).

Why: on a shared machine one run of benchmarks.search swings by ±20 % from one minute to the
next (the same code's CPU median 13-20 ms in three runs back to back), more than most changes
are worth, so two versions run one after the other cannot be told apart. Here a long-lived
process of each version answers every query in turn, the first of the two alternating, so both
see the same minutes. --cold skips the warm-up pass (restart PostgreSQL first for its buffers
to be cold); each pass prints each version's p95 and median over the 100 queries.
"""

import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.search import p95, pick_queries
from storage.db import open_database

# One version's process: a query (JSON) in on each line, its wall and CPU ms out.
_ANSWER = """
import json, sys, time
from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS
from storage.db import open_database
from storage.queries import ArticleFilter
with open_database(sys.argv[1]) as db:
    archive = Archive(db, RuleSet(DEFAULT_TOPICS))
    print("ready", flush=True)
    for line in sys.stdin:
        query = json.loads(line)
        t0, c0 = time.perf_counter(), time.process_time()
        archive.search(ArticleFilter(query=query, limit=20))
        took = [(time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000]
        print(json.dumps(took), flush=True)
"""


class Version:
    """A process running one checkout's search."""

    def __init__(self, checkout: str, url: str) -> None:
        self.name = checkout
        env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ANSWER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=checkout,
        )
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        if self.stdout.readline().strip() != "ready":
            raise SystemExit(f"{checkout}: its search did not start")

    def ask(self, query: str) -> tuple[float, float]:
        self.stdin.write(json.dumps(query) + "\n")
        self.stdin.flush()
        wall, cpu = json.loads(self.stdout.readline())
        return wall, cpu


def main() -> None:
    args = sys.argv[1:]
    cold = "--cold" in args
    args = [a for a in args if a != "--cold"]
    passes = 3
    if "--passes" in args:
        at = args.index("--passes")
        passes = int(args[at + 1])
        del args[at : at + 2]
    if "--db" not in args or len(args) != 4:
        raise SystemExit(__doc__)
    at = args.index("--db")
    url = args[at + 1]
    del args[at : at + 2]
    with open_database(url) as db:
        with db.engine.connect() as conn:
            n = conn.exec_driver_sql("SELECT count(*) FROM articles").scalar() or 0
        queries = [q for qs in pick_queries(db, int(n), random.Random(7)).values() for q in qs]
    versions = [Version(checkout, url) for checkout in args]
    if not cold:
        for query in queries:
            for version in versions:
                version.ask(query)
    for at in range(passes):
        walls: dict[str, list[float]] = {v.name: [] for v in versions}
        cpus: dict[str, list[float]] = {v.name: [] for v in versions}
        for i, query in enumerate(queries):
            for version in versions if (at + i) % 2 == 0 else versions[::-1]:
                wall, cpu = version.ask(query)
                walls[version.name].append(wall)
                cpus[version.name].append(cpu)
        for version in versions:
            ws, cs = walls[version.name], cpus[version.name]
            print(
                f"pass {at + 1} {version.name}: p95_ms={p95(ws):.1f} "
                f"median_ms={statistics.median(ws):.1f} cpu_median_ms={statistics.median(cs):.1f}"
            )


if __name__ == "__main__":
    main()
