"""One outlet whose every page runs past the extraction deadline cannot starve the others."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.pathological import page_shapes
from crawler.demo.site import DemoArticle, FixtureSite, Page
from tests.conftest import cli_json, run_cli, write_config
from tests.site import sample_paragraphs

SLOW_PAGES = 6


@pytest.mark.timeout(180)
def test_slow_pages_of_one_outlet_cost_three_deadlines_and_the_others_are_stored(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    site = FixtureSite().start()
    try:
        # 1 MB of nested inline tags: trafilatura needs seconds, far past a 1 s deadline.
        slow_html = page_shapes(1024 * 1024)["tags-only"].encode()
        slow = [
            DemoArticle(f"/slow/opinion/{i}", f"CISMOA {i}", "Staff", now, ["x"])
            for i in range(SLOW_PAGES)
        ]
        for a in slow:
            site.add(a.path, Page(slow_html, content_type="text/html; charset=utf-8"))
        site.add_rss("/slow/feed.xml", "Slow", slow)
        good = [
            DemoArticle(f"/good/opinion/{i}", f"FATF review {i}", "Staff", now, sample_paragraphs())
            for i in range(2)
        ]
        for a in good:
            site.add_article(a, "Good Times")
        site.add_rss("/good/feed.xml", "Good Times", good)
        config = write_config(
            tmp_path / "mediawatch.toml",
            {
                "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
                "crawl": {
                    "download_delay": 0,
                    "retries": 0,
                    "extract_workers": 1,
                    "extract_deadline": "1s",
                },
                "email": {"outbox_dir": str(tmp_path / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {"id": "slow", "name": "Slow", "feeds": [site.url("/slow/feed.xml")]},
                    {"id": "good", "name": "Good Times", "feeds": [site.url("/good/feed.xml")]},
                ],
            },
        )
        crawl = run_cli("--config", str(config), "crawl", "--format", "json", timeout=150)
    finally:
        site.stop()
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    summary = json.loads(crawl.stdout)
    # Three pages held the worker until the deadline; the rest were given up, not extracted.
    assert crawl.stderr.count("ran past the 1s deadline") == 3, crawl.stderr[-3000:]
    assert crawl.stderr.count("not extracted: 3 pages of this outlet") == SLOW_PAGES - 3
    by_id = {o["id"]: o for o in summary["outlets"]}
    assert by_id["good"]["new_articles"] == 2 and by_id["good"]["errors"] == 0
    assert by_id["slow"]["new_articles"] == 0
    assert by_id["slow"]["error_kinds"] == {"extraction": SLOW_PAGES}
    stored = cli_json("--config", str(config), "search", "--format", "json")
    assert sorted(a["title"] for a in stored) == ["FATF review 0", "FATF review 1"]
