"""An unknown topic, outlet or language in a web URL (a typo in a bookmark) is said, with the
valid values, as `mediawatch search` says it, and never looks like an empty archive: a 400
with a JSON error from the API, a visible notice on the search page, a 400 from the CSV export
and the search feed."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest

from storage.articles import OutletInfo, sync_outlets
from tests.conftest import CISMOA_OPED, wait_until
from tests.web import http_request, store_article, two_outlet_archive, web_server

NOW = datetime.now(UTC)
HOSTILE = '<b id="x">nope</b>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Dawn (English) and The Hindu, with one English and one Urdu article stored."""
    tmp = tmp_path_factory.mktemp("web-filters")
    config_path, config, db = two_outlet_archive(tmp, f"sqlite:///{tmp / 'mw.db'}")
    store_article(db, config, "dawn", "dawn.example/a", "Renewing CISMOA", CISMOA_OPED, NOW)
    store_article(
        db, config, "hindu", "hindu.example/ur", "CISMOA in Urdu", CISMOA_OPED, NOW, language="ur"
    )
    with web_server(config_path, log=tmp / "web.log") as base:
        yield {"base": base, "db": db, "config": config}
    db.dispose()


def api_error(base: str, query: str) -> str:
    status, headers, body = http_request(f"{base}/api/articles?{query}")
    assert status == 400, (query, status, body[:300])
    assert headers["Content-Type"].startswith("application/json")
    return str(json.loads(body)["error"])


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("topic=nope", ["topic: unknown topic 'nope'", "cismoa, fatf, ttp"]),
        ("outlet=nope", ["outlet: unknown outlet 'nope'", "dawn, hindu"]),
        ("language=xx", ["language: unknown language code 'xx'", "en, ur"]),
    ],
)
def test_api_names_the_unknown_value_and_the_valid_ones(
    site: dict[str, Any], query: str, words: list[str]
) -> None:
    error = api_error(site["base"], query)
    for word in words:
        assert word in error, error


def test_the_trends_api_says_it_the_same_way(site: dict[str, Any]) -> None:
    status, _, body = http_request(site["base"] + "/api/trends?topic=nope")
    assert status == 400
    trends_error = json.loads(body)["error"]
    assert trends_error.startswith("topic: unknown topic 'nope'; use one of: ")
    assert api_error(site["base"], "topic=nope") == trends_error


def test_known_values_still_find_their_articles(site: dict[str, Any]) -> None:
    for query, titles in [
        ("outlet=hindu", ["CISMOA in Urdu"]),
        ("language=ur", ["CISMOA in Urdu"]),
        ("language=UR", ["CISMOA in Urdu"]),  # as `search --language UR` reads it
        ("topic=cismoa&outlet=dawn&language=en", ["Renewing CISMOA"]),
    ]:
        status, _, body = http_request(f"{site['base']}/api/articles?{query}")
        assert status == 200, (query, body[:300])
        assert [a["title"] for a in json.loads(body)] == titles, query


def test_search_page_shows_an_escaped_notice(site: dict[str, Any]) -> None:
    status, _, body = http_request(f"{site['base']}/?outlet={quote(HOSTILE)}")
    page = body.decode()
    assert status == 400
    assert HOSTILE not in page and "&lt;b id=" in page
    notice = page.split('class="error" role="alert">', 1)[1].split("</p>", 1)[0]
    assert f"outlet: unknown outlet '{HOSTILE}'" in unescape(notice)
    assert "use one of: dawn, hindu" in notice
    assert "No articles found" not in page
    status, _, body = http_request(f"{site['base']}/?topic=nope&language=xx")
    assert status == 400 and "unknown topic &#39;nope&#39;" in body.decode()


def test_export_and_search_feed_refuse_an_unknown_outlet(site: dict[str, Any]) -> None:
    for path in ("/export.csv?outlet=nope", "/feeds/search.atom?language=xx"):
        status, _, body = http_request(site["base"] + path)
        assert status == 400, path
        assert b"unknown" in body and b"use one of" in body, body


def test_a_language_or_outlet_stored_after_the_server_started_is_valid(
    site: dict[str, Any],
) -> None:
    base = site["base"]
    assert api_error(base, "language=bn").startswith("language: unknown language code 'bn'")
    with site["db"].write() as session:  # an outlet that a past configuration crawled
        sync_outlets(session, [OutletInfo("retired", "Retired", "BD", "bn")])
    store_article(
        site["db"],
        site["config"],
        "retired",  # an outlet no longer configured, whose articles stay searchable
        "retired.example/bn",
        "CISMOA in Bengali",
        CISMOA_OPED,
        NOW - timedelta(hours=1),
        language="bn",
    )
    # Valid within seconds: a refused value re-reads the stored ones, at most every 5 s.
    for query in ("language=bn", "outlet=retired"):
        url = f"{base}/api/articles?{query}"
        wait_until(f"{query} accepted", lambda url=url: http_request(url)[0] == 200, 30)
        status, _, body = http_request(url)
        assert status == 200, (query, body[:300])
        assert [a["title"] for a in json.loads(body)] == ["CISMOA in Bengali"]


def test_openapi_says_unknown_values_are_a_400(site: dict[str, Any]) -> None:
    _, _, body = http_request(site["base"] + "/openapi.json")
    responses = json.loads(body)["paths"]["/api/articles"]["get"]["responses"]
    assert "unknown" in responses["400"]["description"]
