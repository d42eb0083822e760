"""The web UI as a new reader and an operator meet it (issue 14, point 12): counts and numbered
pages, until and language filters, dates in the reader's zone, the daemon's state, Urdu pages
right to left, phone-width layouts (in Debian's Chromium), styled error pages, and the warning
for a UI served beyond this machine without a token."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from alerts.rules import RuleSet
from crawler.archive.filters import article_filter
from crawler.archive.reader import Archive
from crawler.config import config_from_dict
from crawler.config.errors import ConfigError
from crawler.service.health import HEARTBEAT_KEY
from crawler.web import present
from crawler.web.app import token_warning
from storage.db import open_database
from storage.runs import finish_run, start_run
from storage.state import set_state
from storage.statuses import CrawlStatus
from tests.articles import open_db
from tests.conftest import (
    CISMOA_OPED,
    cli_json,
    wait_until,
    write_config,
)
from tests.smtp import free_port
from tests.web import answers, artifacts_dir, http_request, store_article, web_server

PHONE = {"width": 390, "height": 844}
NOW = datetime.now(UTC)
KNOWN_TIME = datetime(2026, 11, 26, 14, 30, 5, 622533, tzinfo=UTC)  # 19:30 in Karachi
LONG_URL_KEY = "hindu.example/" + "opinion-" * 6 + "x" * 120 + "/cismoa-renewed-again.html"
URDU_TITLE = "سیسموا معاہدے کی تجدید پر ایک نظر"
URDU_TEXT = (
    "پاکستان اور امریکہ کے درمیان سیسموا معاہدے کی تجدید پر بحث جاری ہے۔ "
    "ماہرین کا کہنا ہے کہ اس معاہدے سے دفاعی تعاون بڑھے گا، مگر کچھ حلقے اس پر تحفظات رکھتے ہیں۔ "
) * 4
MONSOON = "The monsoon reached Lahore early this year, and the city's drains failed again. "


def _config(tmp: Path, **web: Any) -> tuple[Path, Any]:
    raw = {
        "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
        "catalogue": {"include": []},
        "outlets": [
            {"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]},
            {"id": "hindu", "name": "The Hindu", "feeds": ["https://hindu.example/f"]},
            {"id": "jang", "name": "Jang", "language": "ur", "feeds": ["https://jang.example/f"]},
            {"id": "weather", "name": "Weather Desk", "feeds": ["https://weather.example/f"]},
        ],
        "web": {"token": "", **web},
    }
    path = write_config(tmp / "mediawatch.toml", raw)
    return path, config_from_dict(raw, str(path))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A web UI in Asia/Karachi time over 47 monsoon pieces, a syndicated CISMOA op-ed (one
    copy at a very long URL), an Urdu piece, an undated piece, and two outlets' crawl runs."""
    tmp = tmp_path_factory.mktemp("web-first-day")
    config_path, config = _config(tmp, timezone="Asia/Karachi")
    db = open_db(config)
    ids: dict[str, int] = {}
    for n in range(47):  # newest first: piece 0 is 1.5 hours old, piece 46 nearly two days
        store_article(
            db,
            config,
            "weather",
            f"weather.example/monsoon-{n}",
            f"Monsoon report {n}",
            MONSOON * 3 + f"Report number {n}.",
            NOW - timedelta(hours=1 + n, minutes=30),
        )
    ids["cismoa"] = store_article(
        db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA_OPED, KNOWN_TIME
    ).id
    ids["copy"] = store_article(
        db,
        config,
        "hindu",
        LONG_URL_KEY,
        "CISMOA renewed, again",
        CISMOA_OPED + " Syndicated.",
        KNOWN_TIME + timedelta(hours=1),
        date_source="feed",
    ).id
    ids["urdu"] = store_article(
        db,
        config,
        "jang",
        "jang.example/cismoa",
        URDU_TITLE,
        URDU_TEXT,
        NOW - timedelta(days=3),
        language="ur",
    ).id
    ids["undated"] = store_article(
        db,
        config,
        "dawn",
        "dawn.example/undated",
        "An undated FATF note",
        "The FATF plenary meets again in February; Pakistan's compliance is on the agenda. " * 3,
        KNOWN_TIME - timedelta(days=1),
        published=None,
    ).id
    with db.write() as session:
        for outlet in ("dawn", "weather"):
            run = start_run(session, outlet, KNOWN_TIME)
            finish_run(
                session,
                run,
                finished_at=KNOWN_TIME + timedelta(minutes=2),
                status=CrawlStatus.OK,
                pages_fetched=12,
                items_discovered=30,
                new_articles=3,
                error_kinds={"http-404": 2} if outlet == "dawn" else {},
                error_samples=[],
            )
    db.dispose()
    with web_server(config_path, log=tmp / "web.log") as base:
        yield {"base": base, "ids": ids, "tmp": tmp, "url": config.database.url}


def html(base: str, path: str) -> tuple[int, str]:
    status, _, body = http_request(base + path)
    return status, body.decode("utf-8")


def text_of(page: str, css_class: str) -> str:
    """The text of the first element with `css_class` (tags stripped, entities decoded)."""
    found = re.search(rf'class="{css_class}"[^>]*>(.*?)</(p|nav|div|section)>', page, re.S)
    assert found, f"no element with class {css_class}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def result_titles(page: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<h2><a href="/articles/\d+"[^>]*>(.*?)</a>', page)]


# -- Counting and paging ---------------------------------------------------------------------


def test_count_and_numbered_pages(site: dict[str, Any]) -> None:
    status, page1 = html(site["base"], "/?outlet=weather")
    assert status == 200
    assert text_of(page1, "count") == "1–20 of 47 articles"
    assert result_titles(page1)[:2] == ["Monsoon report 0", "Monsoon report 1"]
    pages = text_of(page1, "pages")
    assert pages == "1 2 3 next →"  # no "previous" on the first page
    status, page3 = html(site["base"], "/?outlet=weather&page=3")
    assert text_of(page3, "count") == "41–47 of 47 articles"
    assert result_titles(page3) == [f"Monsoon report {n}" for n in range(40, 47)]
    assert text_of(page3, "pages") == "← previous 1 2 3"
    assert '<span class="current" aria-current="page">3</span>' in page3
    assert '<ol class="results" start="41">' in page3
    # The CSV export of page 3 is the search's rows, not an empty 1001st-1500th slice.
    csv_url = unescape(re.search(r'href="(/export.csv[^"]*)"', page3).group(1))  # type: ignore[union-attr]
    status, _, body = http_request(site["base"] + csv_url)
    assert status == 200 and body.decode("utf-8-sig").count("Monsoon report") == 47


def test_count_with_a_query_is_the_full_total(site: dict[str, Any]) -> None:
    _, page = html(site["base"], "/?q=monsoon&limit=10")
    assert text_of(page, "count") == "1–10 of 47 articles"
    assert text_of(page, "pages") == "1 2 3 4 5 next →"
    _, page = html(site["base"], "/?q=CISMOA")
    assert text_of(page, "count") == "1–2 of 2 articles"  # English only: Urdu has no Latin word
    assert 'class="pages"' not in page  # one page: no page links at all


def test_page_past_the_end_says_how_many_there_are(site: dict[str, Any]) -> None:
    _, page = html(site["base"], "/?outlet=weather&page=9")
    assert "No articles found on page 9: there are 47" in text_of(page, "empty")
    assert result_titles(page) == []


def test_page_links_keep_every_filter_and_escape_them(site: dict[str, Any]) -> None:
    hostile = '"><script>alert(1)</script>'
    query = (
        "/?q=monsoon&outlet=weather&language=en&since=30d&until=2099-01-01&min_score=0"
        "&limit=5&note=" + hostile.replace(" ", "%20")
    )
    _, page = html(site["base"], query)
    assert "<script>alert(1)" not in page
    status, typed = html(site["base"], "/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in typed
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in typed
    links = [unescape(u) for u in re.findall(r'<nav class="pages".*?</nav>', page, re.S)]
    hrefs = re.findall(r'href="([^"]+)"', links[0])
    assert len(hrefs) >= 4
    for href in hrefs:
        for kept in ("q=monsoon", "outlet=weather", "language=en", "since=30d", "limit=5"):
            assert kept in href, (kept, href)
        assert "until=2099-01-01" in href and "min_score=0" in href
    assert text_of(page, "count") == "1–5 of 47 articles"


def test_page_numbers_leave_gaps_but_never_hide_one_page() -> None:
    assert present.page_numbers(1, 1) == [1]
    assert present.page_numbers(1, 3) == [1, 2, 3]
    assert present.page_numbers(1, 18) == [1, 2, 3, None, 18]
    assert present.page_numbers(9, 18) == [1, None, 7, 8, 9, 10, 11, None, 18]
    assert present.page_numbers(4, 18) == [1, 2, 3, 4, 5, 6, None, 18]  # 2, not "…"
    assert present.page_numbers(18, 18) == [1, None, 16, 17, 18]


# -- Filters ---------------------------------------------------------------------------------


def test_until_filter(site: dict[str, Any]) -> None:
    # Monsoon pieces are 1.5 to 47.5 hours old: until 1d leaves the 24 older than a day.
    _, page = html(site["base"], "/?outlet=weather&until=1d")
    assert text_of(page, "count") == "1–20 of 24 articles"
    assert result_titles(page)[0] == "Monsoon report 23"
    _, page = html(site["base"], "/?q=CISMOA&until=2026-11-26T15:00:00Z")
    assert result_titles(page) == ["Renewing CISMOA"]  # the copy was published at 15:30
    status, page = html(site["base"], "/?since=2026-11-27&until=2026-11-26")
    assert status == 400 and "is not before" in text_of(page, "error")


def test_zoneless_dates_are_read_in_the_display_zone_like_the_cli(site: dict[str, Any]) -> None:
    """The site shows Asia/Karachi: 20:00 to 21:00 there is 15:00 to 16:00 UTC, which holds
    the copy (published 15:30 UTC) and not the op-ed (14:30 UTC); read as UTC, the window
    would hold neither. The page, the API, the feed and `mediawatch search` agree."""
    since, until = "2026-11-26T20:00", "2026-11-26T21:00"
    window = f"q=CISMOA&since={since}&until={until}"
    _, page = html(site["base"], "/?" + window)
    assert result_titles(page) == ["CISMOA renewed, again"]
    status, _, body = http_request(f"{site['base']}/api/articles?{window}")
    assert status == 200 and [a["id"] for a in json.loads(body)] == [site["ids"]["copy"]]
    status, _, body = http_request(f"{site['base']}/feeds/search.atom?{window}")
    atom = "{http://www.w3.org/2005/Atom}"
    entries = etree.fromstring(body).findall(f"{atom}entry/{atom}title")
    assert status == 200 and [t.text for t in entries] == ["CISMOA renewed, again"]
    config = str(site["tmp"] / "mediawatch.toml")
    found = cli_json(
        "--config",
        config,
        "search",
        "CISMOA",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "json",
    )
    assert [a["id"] for a in found] == [site["ids"]["copy"]]


def test_language_filter(site: dict[str, Any]) -> None:
    _, page = html(site["base"], "/?language=ur")
    assert result_titles(page) == [URDU_TITLE]
    assert text_of(page, "count") == "1–1 of 1 article"
    assert '<option value="ur" selected>Urdu</option>' in page
    assert '<option value="en" >English</option>' in page
    _, page = html(site["base"], "/?q=monsoon&language=ur")
    assert result_titles(page) == [] and "No articles found" in page


def test_count_agrees_with_the_results_on_both_databases(db_url: str) -> None:
    """Archive.count is the number of results every page together lists, with and without a
    query, on SQLite and PostgreSQL."""
    raw = {"database": {"url": db_url}, "catalogue": {"include": []}}
    raw["outlets"] = [{"id": "weather", "name": "Weather", "feeds": ["https://w.example/f"]}]
    config = config_from_dict(raw, "test")
    db = open_db(config)
    for n in range(23):
        store_article(
            db,
            config,
            "weather",
            f"w.example/{n}",
            f"Monsoon {n}",
            MONSOON * 2,
            NOW - timedelta(hours=n),
            language="en" if n % 2 else "ur",
        )
    db.dispose()
    with open_database(db_url) as opened:
        archive = Archive(opened, RuleSet(config.topics))
        for kwargs, expected in [
            ({}, 23),
            ({"query": "monsoon"}, 23),
            ({"query": "monsoon", "language": "en"}, 11),
            ({"language": "ur"}, 12),
            ({"query": "monsoon", "until": "10h"}, 12),
            ({"query": "drains -lahore"}, 0),
        ]:
            f = article_filter(NOW, limit=500, **kwargs)
            assert archive.count(f) == expected == len(archive.search(f, NOW)), kwargs


# -- Dates, sources, languages -------------------------------------------------------------


def test_article_dates_in_the_readers_zone_with_their_source(site: dict[str, Any]) -> None:
    _, page = html(site["base"], f"/articles/{site['ids']['cismoa']}")
    assert "2026-11-26T14:30:05.622533+00:00 (page)" not in page
    assert '<time datetime="2026-11-26T14:30:05.622533+00:00"' in page
    assert "26 Nov 2026, 19:30 PKT" in page
    assert "date from the article&#39;s page" in page
    _, page = html(site["base"], f"/articles/{site['ids']['copy']}")
    assert "26 Nov 2026, 20:30 PKT" in page and "date from the outlet&#39;s feed" in page
    _, page = html(site["base"], f"/articles/{site['ids']['undated']}")
    assert "date unknown" in page and "the outlet gave none; first seen" in page
    assert "25 Nov 2026, 19:30 PKT" in page


def test_search_results_show_human_dates(site: dict[str, Any]) -> None:
    _, page = html(site["base"], "/?q=CISMOA")
    assert "26 Nov 2026, 19:30 PKT" in page and "26 Nov 2026, 20:30 PKT" in page
    assert '<time datetime="2026-11-26T15:30:05.622533+00:00"' in page


def test_human_time_names_the_zone() -> None:
    assert present.human_time(KNOWN_TIME, ZoneInfo("Asia/Karachi")) == "26 Nov 2026, 19:30 PKT"
    assert present.human_time(KNOWN_TIME, ZoneInfo("Asia/Kolkata")) == "26 Nov 2026, 20:00 IST"
    assert present.human_time(KNOWN_TIME, ZoneInfo("UTC")) == "26 Nov 2026, 14:30 UTC"
    # A zone without an abbreviation shows its offset, never a bare "+06".
    assert present.human_time(KNOWN_TIME, ZoneInfo("Asia/Dhaka")) == "26 Nov 2026, 20:30 UTC+06"
    assert present.human_time("2026-03-01T00:00:00", ZoneInfo("UTC")) == "1 Mar 2026, 00:00 UTC"


def test_web_timezone_is_validated(tmp_path: Path) -> None:
    _, config = _config(tmp_path)
    assert config.web.timezone == "UTC"
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, timezone="Pakistan Standard Time")
    message = str(info.value)
    assert "timezone" in message and "Asia/Karachi" in message


def test_languages_and_directions(site: dict[str, Any]) -> None:
    _, page = html(site["base"], f"/articles/{site['ids']['urdu']}")
    assert f'<h1 lang="ur" dir="rtl">{URDU_TITLE}</h1>' in page
    assert '<div class="body" lang="ur" dir="rtl">' in page
    _, page = html(site["base"], f"/articles/{site['ids']['cismoa']}")
    assert '<h1 lang="en" dir="ltr">Renewing CISMOA</h1>' in page
    _, page = html(site["base"], "/?q=" + quote("سیسموا"))
    assert '<p class="snippet" lang="ur" dir="rtl">' in page
    assert present.text_direction("ur") == present.text_direction("ar") == "rtl"
    assert present.text_direction("hi") == present.text_direction(None) == "ltr"


# -- The outlets page and the daemon ---------------------------------------------------------


def test_outlets_page_human_dates_and_the_daemon_notice(site: dict[str, Any]) -> None:
    _, page = html(site["base"], "/outlets")
    assert "No daemon running" in text_of(page, "daemon daemon-stopped")
    assert "26 Nov 2026, 19:30 PKT" in page
    assert not re.search(r">\s*2026-11-26T", page)  # no raw timestamp shown as text
    stopped_at = NOW - timedelta(hours=3)
    with open_database(site["url"]) as db, db.write() as session:
        set_state(session, HEARTBEAT_KEY, stopped_at.isoformat(), stopped_at)
    _, page = html(site["base"], "/outlets")
    notice = text_of(page, "daemon daemon-stopped")
    local = present.human_time(stopped_at, ZoneInfo("Asia/Karachi"))
    assert f"The daemon has not run since {local} (3 hours ago)" in notice
    assert "mediawatch run" in notice
    with open_database(site["url"]) as db, db.write() as session:
        set_state(session, HEARTBEAT_KEY, datetime.now(UTC).isoformat(), datetime.now(UTC))
    _, page = html(site["base"], "/outlets")
    assert "daemon-stopped" not in page
    assert "The daemon is running" in text_of(page, "daemon daemon-running")


def test_daemon_state_thresholds() -> None:
    assert not present.daemon_state(None, NOW).running
    assert not present.daemon_state("not a time", NOW).running
    assert present.daemon_state((NOW - timedelta(seconds=40)).isoformat(), NOW).running
    assert not present.daemon_state((NOW - timedelta(minutes=5)).isoformat(), NOW).running


# -- Error pages and the token warning -------------------------------------------------------


def test_styled_error_pages(site: dict[str, Any]) -> None:
    for path, status, words in [
        ("/no/such/page", 404, "There is no page at /no/such/page."),
        ("/articles/999999", 404, "No article has the id 999999."),
        ("/articles/abc", 400, "article id: must be a whole number"),
        ("/static/missing.css", 404, "There is no page at /static/missing.css."),
    ]:
        code, headers, body = http_request(site["base"] + path)
        page = body.decode()
        assert code == status, path
        assert headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert '<link rel="stylesheet" href="/static/style.css">' in page  # the base template
        assert '<a href="/">Back to search</a>' in page
        assert words in text_of(page, "error-message"), path
    code, headers, body = http_request(site["base"] + "/", method="POST")
    assert code == 405 and "GET" in headers["Allow"] and b"Back to search" in body
    _, _, body = http_request(site["base"] + "/%3Cscript%3Ealert(1)%3C/script%3E")
    assert b"<script>alert" not in body and b"&lt;script&gt;" in body


def test_token_warning_only_beyond_loopback(tmp_path: Path) -> None:
    _, open_config = _config(tmp_path)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert token_warning(open_config, host, 8000) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.5", "news.example.org"):
        warning = token_warning(open_config, host, 8000)
        assert warning and "anyone who can reach this port can read" in warning, host
        assert "[web] token" in warning and "MEDIAWATCH_WEB_TOKEN" in warning
    _, closed = _config(tmp_path, token="s3cret")
    assert token_warning(closed, "0.0.0.0", 8000) is None


def test_web_on_all_interfaces_without_a_token_warns(site: dict[str, Any]) -> None:
    config_path = write_config(
        site["tmp"] / "open.toml",
        {
            "database": {"url": site["url"]},
            "catalogue": {"include": []},
            "web": {"token": ""},
        },
    )
    port = free_port()
    log = site["tmp"] / "open.log"
    env = {k: v for k, v in os.environ.items() if k != "MEDIAWATCH_WEB_TOKEN"}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config_path), "web"]
            + ["--host", "0.0.0.0", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    try:
        wait_until("the web UI's warning", lambda: "warning" in log.read_text(), 30)
        wait_until("the web UI to answer", lambda: answers(f"http://127.0.0.1:{port}/healthz"), 30)
    finally:
        proc.terminate()
        proc.wait(10)
    said = log.read_text()
    assert f"warning: serving on 0.0.0.0:{port} with no token" in said
    assert "anyone who can reach this port can read the whole archive" in said


# -- In a real browser at 390 px -------------------------------------------------------------


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page in a 390 px wide phone-sized window, in its own context."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    yield page
    context.close()


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide at {PHONE['width']} px"


def test_phone_search_page(site: dict[str, Any], phone: Any, tmp_path: Path) -> None:
    phone.goto(site["base"] + "/?outlet=weather&page=2")
    assert phone.locator(".count").inner_text() == "21–40 of 47 articles"
    assert phone.locator(".pages a", has_text="next").is_visible()
    no_sideways_scroll(phone)
    for box in [phone.locator(s).first.bounding_box() for s in (".result", "form.search button")]:
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    phone.click(".pages a >> text=3")
    phone.wait_for_selector(".count")
    assert phone.locator(".count").inner_text() == "41–47 of 47 articles"
    phone.goto(site["base"] + "/?q=CISMOA")
    no_sideways_scroll(phone)
    phone.screenshot(path=str(artifacts_dir(tmp_path) / "phone-search.png"), full_page=True)


def test_phone_article_page_long_url_wraps(
    site: dict[str, Any], phone: Any, tmp_path: Path
) -> None:
    phone.goto(site["base"] + f"/articles/{site['ids']['cismoa']}")
    url = phone.locator(".duplicates .url")
    assert url.inner_text() == "https://" + LONG_URL_KEY
    box = url.bounding_box()
    font = url.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert box and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] > 3 * font  # wrapped onto several lines, not cut or running off
    no_sideways_scroll(phone)
    assert phone.locator("time").first.inner_text() == "26 Nov 2026, 19:30 PKT"
    phone.screenshot(path=str(artifacts_dir(tmp_path) / "phone-article.png"))  # the top


def test_phone_outlets_page_shows_every_column(
    site: dict[str, Any], phone: Any, tmp_path: Path
) -> None:
    phone.goto(site["base"] + "/outlets")
    no_sideways_scroll(phone)
    assert phone.locator(".daemon").is_visible()
    rows = phone.locator("table.outlets tbody tr")
    assert rows.count() == 4
    labels = ["Outlet", "Health", "Last crawl", "Result", "Pages", "New", "Errors", "Stored"]
    dawn = rows.filter(has_text="Dawn")
    cells = dawn.locator("td")
    assert cells.count() == len(labels)
    for i, label in enumerate(labels):
        cell = cells.nth(i)
        box = cell.bounding_box()
        assert cell.is_visible() and box, label
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], label
        shown = cell.evaluate("e => getComputedStyle(e, '::before').content")
        assert shown == f'"{label}"', (label, shown)  # each value is labelled on a phone
    assert "http-404 2" in cells.nth(6).inner_text()
    assert "26 Nov 2026, 19:30 PKT" in cells.nth(2).inner_text()
    phone.screenshot(path=str(artifacts_dir(tmp_path) / "phone-outlets.png"), full_page=True)


def test_urdu_article_page_reads_right_to_left(
    site: dict[str, Any], phone: Any, tmp_path: Path
) -> None:
    phone.goto(site["base"] + f"/articles/{site['ids']['urdu']}")
    for selector in ("article.full h1", "article.full .body"):
        element = phone.locator(selector)
        assert element.get_attribute("dir") == "rtl" and element.get_attribute("lang") == "ur"
        assert element.evaluate("e => getComputedStyle(e).direction") == "rtl"
    left, right = phone.locator("article.full h1").evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " const b = r.getBoundingClientRect(); return [b.left, b.right]; }"
    )
    assert right > PHONE["width"] - 30 and left > 0  # the text starts at the right edge
    no_sideways_scroll(phone)
    phone.goto(site["base"] + f"/articles/{site['ids']['cismoa']}")
    assert phone.locator("article.full .body").get_attribute("lang") == "en"
    assert (
        phone.locator("article.full .body").evaluate("e => getComputedStyle(e).direction") == "ltr"
    )
    phone.goto(site["base"] + f"/articles/{site['ids']['urdu']}")
    phone.screenshot(path=str(artifacts_dir(tmp_path) / "phone-urdu.png"), full_page=True)


def test_phone_error_page(site: dict[str, Any], phone: Any) -> None:
    response = phone.goto(site["base"] + "/nowhere")
    assert response.status == 404
    assert phone.locator("header nav").is_visible()
    phone.click("text=Back to search")
    phone.wait_for_selector("form.search")
    no_sideways_scroll(phone)
