"""Many machines: one daemon, two workers, PostgreSQL and Redis; one worker killed mid-crawl.

Ten fixture outlets publish 200 articles in all. Every article must be stored once and
alerted once, both workers must have done work (status says so, per worker), and a worker
killed with SIGKILL in the middle of a crawl loses nothing: its job is taken again.
"""

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crawler.demo.site import DemoArticle, FixtureSite
from tests.conftest import PG_URL, cli_json, fresh_redis, need_service, wait_until, write_config
from tests.smtp import SmtpServer

# db 9: tests/test_queue.py, db 10: tests/faults/test_worker.py; this file flushes only db 11.
REDIS_URL = "redis://127.0.0.1:6379/11"
OUTLETS = 10
PER_OUTLET = 20
TOTAL = OUTLETS * PER_OUTLET + 1  # and one late article, published mid-test
VOCABULARY = (
    "province budget ministry treaty border council security reform committee envoy "
    "export tariff harvest monsoon court verdict senate election coalition corridor "
    "pipeline refinery university hospital railway harbour dam river drought subsidy "
    "inflation currency lender bond auditor regulator militant checkpoint convoy patrol "
    "district mayor assembly opposition cabinet governor charter strike union wage"
)
WORDS = VOCABULARY.split()
SYLLABLES = [
    "ka",
    "ra",
    "sta",
    "ban",
    "mir",
    "pur",
    "dal",
    "zeb",
    "tan",
    "gul",
    "shah",
    "nor",
    "vi",
    "lo",
    "que",
    "tem",
]


@pytest.fixture
def redis_url() -> Iterator[str]:
    with fresh_redis(REDIS_URL) as url:
        yield url


@pytest.fixture
def own_pg() -> Iterator[str]:
    """A database of this test's own on the local PostgreSQL, dropped afterwards."""
    need_service("PostgreSQL", 5432)
    name = f"mw_workers_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    """Text no other article shares (a word bag of its own, so SimHash finds no near-duplicate
    and each article is a story of its own), each paragraph naming the FATF."""
    own = ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(40)]
    return [
        " ".join(rng.choice(WORDS + own) for _ in range(60)).capitalize()
        + ". The FATF review was discussed again."
        for _ in range(n)
    ]


def _outlet_site(
    site: FixtureSite, index: int, now: datetime, published: dict[int, list[DemoArticle]]
) -> dict[str, Any]:
    rng = random.Random(index)
    articles = [
        DemoArticle(
            path=f"/o{index}/opinion/{k}/piece",
            title=f"FATF watch {index}-{k}: {' '.join(rng.choice(WORDS) for _ in range(4))}",
            author="Staff Writer",
            published=now - timedelta(hours=1 + k),
            paragraphs=_paragraphs(rng, 4),
        )
        for k in range(PER_OUTLET)
    ]
    name = f"Outlet {index}"
    published[index] = articles
    for a in articles:
        site.add_article(a, name)
    site.add_rss(f"/o{index}/feed.xml", name, articles)
    return {
        "id": f"o{index}",
        "name": name,
        "country": "PK",
        "feeds": [site.url(f"/o{index}/feed.xml")],
        "interval": "3s",
    }


def _busy_workers(report: dict[str, Any]) -> int:
    return sum(1 for w in report["queue"]["worker_details"] if w["jobs_done"] >= 1)


def _late_article(site: FixtureSite, now: datetime, o0: list[DemoArticle]) -> DemoArticle:
    rng = random.Random(99)
    late = DemoArticle(
        path="/o0/opinion/late/piece",
        title="FATF watch: the late piece",
        author="Staff Writer",
        published=now,
        paragraphs=_paragraphs(rng, 4),
    )
    site.add_article(late, "Outlet 0")
    site.routes[late.path].delay = 600
    site.add_rss("/o0/feed.xml", "Outlet 0", [late, *o0])
    return late


@pytest.mark.timeout(900)  # 201 articles through three processes on a two-core machine
def test_two_workers_share_the_crawls_and_a_killed_one_loses_nothing(
    tmp_path: Path, redis_url: str, own_pg: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    site = FixtureSite().start()
    published: dict[int, list[DemoArticle]] = {}
    outlets = [_outlet_site(site, i, now, published) for i in range(OUTLETS)]
    smtp = SmtpServer().start()
    config = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": own_pg},
            "crawl": {"download_delay": 0, "retries": 0, "shutdown_grace": "10s"},
            "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port},
            "catalogue": {"include": []},
            "outlets": outlets,
            "subscriptions": [{"email": "desk@example.org", "topics": ["fatf"]}],
            "queue": {"url": redis_url},
        },
    )
    base = [sys.executable, "-m", "crawler", "--config", str(config)]
    log_path = tmp_path / "log.txt"
    log = log_path.open("ab")

    def worker() -> subprocess.Popen[bytes]:
        # Its own process group, so SIGKILL takes its job process along, as a lost machine.
        return subprocess.Popen(
            [*base, "worker"], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )

    def status() -> dict[str, Any]:
        return dict(cli_json(*base[3:], "status", "--format", "json"))

    engine = create_engine(own_pg)

    def scalar(sql: str) -> int:
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar_one())
        except Exception:  # noqa: BLE001 - the daemon has not created the tables yet
            return -1

    daemon = subprocess.Popen([*base, "run"], stdout=subprocess.DEVNULL, stderr=log)
    workers = [worker(), worker()]
    killed: str | None = None
    try:
        wait_until(
            "both workers having finished a crawl",
            lambda: _busy_workers(status()) == 2,
            180,
        )
        # A late article on o0 whose page hangs until the worker crawling it is killed.
        late = _late_article(site, now, published[0])
        slow_path = late.path
        wait_until(
            "the slow article being fetched by one worker's crawl",
            lambda: site.fetch_count(slow_path) >= 1,
            120,
        )
        crawling = {w["pid"]: w["current_job"] for w in status()["queue"]["worker_details"]}
        victim = next(p for p in workers if crawling.get(p.pid) == "o0")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        killed = str(victim.pid)
        site.routes[slow_path].delay = 0  # the site recovers
        wait_until(
            "every article stored",
            lambda: scalar("SELECT count(*) FROM articles") == TOTAL,
            300,
        )
        wait_until(
            "every alert sent",
            lambda: scalar("SELECT count(*) FROM alerts WHERE status = 'sent'") == TOTAL,
            120,
        )
        survivor = next(p for p in workers if p is not victim)
        report = status()
        details = {w["pid"]: w for w in report["queue"]["worker_details"]}
        assert survivor.pid in details and details[survivor.pid]["jobs_done"] >= 1
        assert details[survivor.pid]["last_seen"] is not None
        assert daemon.poll() is None, "the daemon stopped"
    finally:
        alive = [p for p in [daemon, *workers] if p.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in alive]
        smtp.stop()
        site.stop()
        log.close()
        engine.dispose()
    assert killed is not None
    assert codes == [0] * len(codes), log_path.read_text()[-3000:]
    with create_engine(own_pg).connect() as conn:
        rows = conn.execute(text("SELECT url_key FROM articles")).scalars().all()
        assert len(rows) == len(set(rows)) == TOTAL
        copies = "SELECT count(*) FROM articles WHERE duplicate_of_id IS NOT NULL"
        assert conn.execute(text(copies)).scalar_one() == 0, "the fixture made near-duplicates"
        alerts = conn.execute(text("SELECT story_id, status FROM alerts")).all()
    assert len(alerts) == len({s for s, _ in alerts}) == TOTAL
    urls = [str(m["X-Mediawatch-Article-URL"]) for m in smtp.messages]
    assert len(urls) == len(set(urls)) == TOTAL, json.dumps(urls[:5])
