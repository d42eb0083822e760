"""Articles older than max_age_days: counted in the crawl's summary, with what to do about
them, and fetched after all once max_age_days is raised. They used to vanish: the crawl said
"0 new", and raising max_age_days brought none of them in (the pages were remembered as too
old, and the sitemap, unchanged, answered 304)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import cli_json, run_cli, write_config
from tests.site import FILLER, ConditionalSite, article

SITEMAP, LISTING = "/wire/sitemap.xml", "/wire/opinion"
YEAR = 24 * 365  # hours


def _config(tmp: Path, site: ConditionalSite, max_age_days: int) -> Path:
    return write_config(
        tmp / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
            "crawl": {"download_delay": 0, "retries": 0, "max_age_days": max_age_days},
            "email": {"outbox_dir": str(tmp / "outbox")},
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "wire",
                    "name": "World Wire",
                    "sitemaps": [site.url(SITEMAP)],
                    "listings": [site.url(LISTING)],
                    "article_url_pattern": r"/wire/opinion/\d+/",
                }
            ],
        },
    )


def test_older_articles_are_counted_and_come_in_once_max_age_days_is_raised(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    site = ConditionalSite().start()
    try:

        def piece(n: int, hours: float) -> Any:
            a = article(f"/wire/opinion/{n}/piece", f"Piece {n} on water", hours, [FILLER * 3], now)
            site.add_article(a, "World Wire")
            return a

        # The sitemap dates its entries (the old one is never fetched); the listing does not
        # (its old pieces are fetched, then found too old).
        site.add_sitemap(SITEMAP, [piece(1, 2), piece(2, 2 * YEAR)])
        site.add_listing(LISTING, "World Wire", [piece(3, 3), piece(4, YEAR), piece(5, 3 * YEAR)])
        config = str(_config(tmp_path, site, max_age_days=7))

        first = run_cli("--config", config, "crawl")
        assert first.returncode == 0, first.stderr[-3000:]
        assert "2 too old" in first.stdout  # the listing's two old pieces, fetched
        assert "2 articles fetched were older than max_age_days (7 days)" in first.stdout
        assert "mediawatch crawl --since DATE" in first.stdout

        again = cli_json("--config", config, "crawl", "--format", "json")
        assert again["new_articles"] == 0 and again["outlets"][0]["too_old"] == 0  # not refetched

        config = str(_config(tmp_path, site, max_age_days=5 * 365))
        raised = cli_json("--config", config, "crawl", "--format", "json")
        assert raised["new_articles"] == 3, raised
        found = cli_json("--config", config, "search", "--format", "json", "--limit", "50")
        assert sorted(a["title"] for a in found) == [f"Piece {n} on water" for n in range(1, 6)]
    finally:
        site.stop()
