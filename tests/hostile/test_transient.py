"""Transient answers on article URLs (a 404 just before publication, a bot-challenge page or a
short error page served with status 200) are fetched again on the schedule, not lost for good.

The first two crawls are real `mediawatch crawl` runs; the later ones run in one helper process
whose crawl clock is moved forward (the context's `clock`), so nothing sleeps.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crawler.demo.site import FixtureSite, Page, rss
from tests.conftest import REPO, cli_json, write_config
from tests.site import FILLER, article

CHALLENGE = (
    b"<html><head><title>Just a moment...</title></head><body>"
    b"<div id='cf-chl-widget'>Checking your browser before accessing the site.</div>"
    b"</body></html>"
)
SHORT_ERROR = b"<html><body><p>Service temporarily unavailable. Try again.</p></body></html>"

# Crawls at these minutes after the first: ten minutes, one hour and one day after it was
# first seen the still-dead URL is fetched again; two days on it is remembered for good.
LATER = {"publish": 11.0, "hour": 61.0, "day": 24 * 60 + 1.0, "for_good": 2 * 24 * 60.0}

CLOCK_CRAWL = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from crawler.config import load_config
from crawler.runtime.context import CrawlContext
from crawler.service.runner import crawl_outlets, run_in_reactor

config = load_config(sys.argv[1])
start = datetime.fromisoformat(sys.argv[2])

async def crawls():
    done = []
    for minutes in sys.argv[3:]:
        context.clock = lambda m=float(minutes): start + timedelta(minutes=m)
        done.append([r.as_json() for r in await crawl_outlets(context, config.active_outlets())])
    return done

with CrawlContext.create(config) as context:
    print(json.dumps(run_in_reactor(crawls)))
"""


def crawl_later(config: Path, start: datetime, *minutes: float) -> list[dict[str, Any]]:
    """Crawls of the first outlet with the clock `minutes` after `start`, one after the other
    in one helper process; each one's `as_json()`."""
    result = subprocess.run(
        [sys.executable, "-c", CLOCK_CRAWL, str(config), start.isoformat()]
        + [str(m) for m in minutes],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [runs[0] for runs in json.loads(result.stdout.splitlines()[-1])]


class Late:
    """An outlet whose feed lists a good article and four not (yet) there."""

    def __init__(self, tmp: Path) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.site = FixtureSite().start()
        self.good = article("/late/opinion/1/good", "The budget debate", 1, [FILLER * 3], self.now)
        self.late = {
            name: article(
                f"/late/opinion/{i}/{name}",
                f"FATF and the grey list, part {i}",
                0.5,
                ["Pakistan and the FATF grey list. " + FILLER * 3],
                self.now,
            )
            for i, name in enumerate(["gone", "challenge", "short", "never"], start=2)
        }
        self.site.add_article(self.good, "Late Post")
        self.site.add(self.late["challenge"].path, Page(CHALLENGE))
        self.site.add(self.late["short"].path, Page(SHORT_ERROR))
        # "gone" and "never" have no page yet: 404
        items = [self.good, *self.late.values()]
        body = rss("Late Post", self.site.base, items).encode()
        self.site.add("/late/feed.xml", Page(body, content_type="application/rss+xml"))
        self.db = f"sqlite:///{tmp / 'mw.db'}"
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": self.db},
                # no edit re-checks: stored articles would be fetched again at +1 h and +1 day
                # too, and this test counts the fetches of transient answers only
                "crawl": {"download_delay": 0, "retries": 0, "timeout": "10s", "recheck": []},
                "email": {"outbox_dir": str(tmp / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "late",
                        "name": "Late Post",
                        "country": "PK",
                        "feeds": [self.site.url("/late/feed.xml")],
                    }
                ],
            },
        )

    def cli(self, *args: str) -> Any:
        return cli_json("--config", str(self.config), *args)

    def crawl_later(self, *minutes: float) -> list[dict[str, Any]]:
        """Crawls with the clock `minutes` after the first crawl, one after the other."""
        return crawl_later(self.config, self.now, *minutes)

    def fetches(self, name: str) -> int:
        return self.site.fetch_count(self.late[name].path)

    def seen(self, name: str) -> tuple[str, int, object]:
        engine = create_engine(self.db)
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT outcome, attempts, retry_after FROM seen_urls WHERE url_key LIKE :k"),
                {"k": f"%{self.late[name].path}"},
            ).one()
        engine.dispose()
        return (str(row[0]), int(row[1]), row[2])


@pytest.fixture
def late(tmp_path: Path) -> Iterator[Late]:
    world = Late(tmp_path)
    yield world
    world.site.stop()


def test_transient_answers_are_fetched_again_and_stored_once_the_article_is_there(
    late: Late,
) -> None:
    first = late.cli("crawl", "--format", "json")
    [outlet] = first["outlets"]
    assert outlet["new_articles"] == 1
    assert outlet["error_kinds"]["challenge"] == 1
    assert outlet["error_kinds"]["gone"] == 2
    [health] = late.cli("status", "--format", "json")["outlets"]
    assert health["error_kinds"]["challenge"] == 1
    assert late.seen("challenge")[0] == "challenge"
    assert late.seen("short")[0] == "not_article"

    again = late.cli("crawl", "--format", "json")  # straight after: nothing refetched yet
    assert again["new_articles"] == 0
    assert all(late.fetches(name) == 1 for name in late.late)

    for name in ("gone", "challenge", "short"):  # the articles go live
        late.site.add_article(late.late[name], "Late Post")
    published, hour, day, for_good = late.crawl_later(*LATER.values())
    assert published["new_articles"] == 3
    assert published["error_kinds"] == {"gone": 1}  # only "never" is still missing
    stored = {a["url"] for a in late.cli("search", "--format", "json")}
    assert stored == {late.site.url(a.path) for a in [late.good, *late.late.values()][:4]}
    assert hour["error_kinds"] == day["error_kinds"] == {"gone": 1}
    assert for_good["error_kinds"] == {} and for_good["new_articles"] == 0
    assert late.fetches("never") == 4  # first seen, +10 minutes, +1 hour, +1 day; then never
    assert late.fetches("gone") == 2
    assert late.seen("never") == ("gone", 4, None)
    assert late.seen("challenge") == ("stored", 1, None)
