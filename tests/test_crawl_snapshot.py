"""`mediawatch crawl` takes more like this's term-frequency snapshot when it is due, as the
daemon does, so that `crawl` from cron with `web` gets one too; a failure there changes
nothing of the crawl's summary or exit status."""

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.site import DemoArticle, FixtureSite
from tests.conftest import run_cli, write_config
from tests.site import FILLER

TOPICS = ["cricket selectors", "monsoon floods", "grain prices", "rail fares", "port strikes"]
TAKEN = "term frequencies of"


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    site = FixtureSite().start()
    yield site
    site.stop()


def _publish(site: FixtureSite, count: int) -> None:
    """The outlet's feed with its first `count` stories (each page distinct in its words)."""
    now = datetime.now(UTC)
    stories = [
        DemoArticle(
            f"/news/{i}",
            f"Opinion: the {TOPICS[i]} question",
            "Staff",
            now - timedelta(hours=i + 1),
            [f"Readers wrote about {TOPICS[i]} all week, number {i}. " + FILLER * 2],
        )
        for i in range(count)
    ]
    for story in stories:
        site.add_article(story, "Daily Chronicle")
    site.add_rss("/news/feed.xml", "Daily Chronicle", stories)


def _config(tmp: Path, site: FixtureSite) -> Path:
    return write_config(
        tmp / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
            "crawl": {"download_delay": 0, "obey_robots": False, "retries": 0},
            "email": {"outbox_dir": str(tmp / "outbox")},
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "chronicle",
                    "name": "Daily Chronicle",
                    "country": "PK",
                    "feeds": [site.url("/news/feed.xml")],
                }
            ],
        },
    )


def _crawl(tmp: Path, site: FixtureSite) -> tuple[dict[str, Any], list[str]]:
    """`mediawatch crawl --format json`: its summary, and its stderr lines about the snapshot."""
    config = _config(tmp, site)
    result = run_cli("--config", str(config), "crawl", "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "term frequencies" in line]
    return json.loads(result.stdout), lines


def _snapshot(tmp: Path) -> tuple[dict[str, Any] | None, int]:
    """The snapshot's state value, and how many terms its table holds."""
    with sqlite3.connect(tmp / "mw.db") as conn:
        row = conn.execute(
            "SELECT value FROM state WHERE key = 'similar:term_frequencies'"
        ).fetchone()
        terms = conn.execute("SELECT count(*) FROM term_frequencies").fetchone()[0]
    return (json.loads(row[0]) if row else None), terms


def test_a_crawl_that_stores_articles_takes_the_snapshot(tmp_path: Path, site: FixtureSite) -> None:
    _publish(site, 4)
    summary, lines = _crawl(tmp_path, site)
    assert summary["new_articles"] == 4
    assert len(lines) == 1 and f"{TAKEN} 4 articles taken in" in lines[0], lines
    taken, terms = _snapshot(tmp_path)
    assert taken is not None and taken["articles"] == 4
    assert terms > 0  # the words the four pages share

    # Nothing new stored, and the snapshot is fresh: nothing done, nothing said.
    summary, lines = _crawl(tmp_path, site)
    assert summary["new_articles"] == 0
    assert lines == []
    assert _snapshot(tmp_path) == (taken, terms)


def test_a_failed_refresh_changes_nothing_of_the_crawl(tmp_path: Path, site: FixtureSite) -> None:
    _publish(site, 2)
    _crawl(tmp_path, site)
    with sqlite3.connect(tmp_path / "mw.db") as conn:  # a snapshot that cannot be written
        conn.execute("DROP TABLE term_frequencies")
        conn.execute("DELETE FROM state WHERE key = 'similar:term_frequencies'")

    _publish(site, 5)
    summary, lines = _crawl(tmp_path, site)
    assert summary["new_articles"] == 3
    assert len(lines) == 1 and "not refreshed" in lines[0], lines


# `mediawatch` that sends itself SIGTERM the moment the snapshot is being taken.
_TERM_DURING_REFRESH = """
import os, signal, sys
import storage.similar
from crawler.cli import main

taking = storage.similar.refresh_term_frequencies

def refresh(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return taking(*args, **kwargs)

storage.similar.refresh_term_frequencies = refresh
sys.argv = ["mediawatch", *sys.argv[1:]]
main()
"""


def test_a_signal_while_the_snapshot_is_taken_ends_the_crawl_as_stopped(
    tmp_path: Path, site: FixtureSite
) -> None:
    # The refresh is not cut short, but the signal is not lost: exit 143, as the README says.
    _publish(site, 2)
    config = _config(tmp_path, site)
    env = {k: v for k, v in os.environ.items() if k != "MEDIAWATCH_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", _TERM_DURING_REFRESH, "--config", str(config), "crawl"]
        + ["--format", "json"],
        env={**env, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 143, result.stderr[-3000:]
    assert "stopped by SIGTERM" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert json.loads(result.stdout)["new_articles"] == 2
    taken, _ = _snapshot(tmp_path)
    assert taken is not None and taken["articles"] == 2  # the refresh under way finished


def test_a_worker_job_leaves_the_snapshot_to_the_daemon(tmp_path: Path, site: FixtureSite) -> None:
    # A job has a timeout (a crawl's plus 2 minutes), and every worker would take the
    # snapshot at once: `mediawatch run`, which queues the jobs, takes it instead.
    _publish(site, 2)
    config = _config(tmp_path, site)
    job = "import json, sys; from crawler.service.jobs import crawl_job; "
    job += "print(json.dumps(crawl_job(sys.argv[1], 'chronicle')))"
    env = {k: v for k, v in os.environ.items() if k != "MEDIAWATCH_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", job, str(config)],
        env={**env, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1])["new_articles"] == 2
    assert _snapshot(tmp_path) == (None, 0)
