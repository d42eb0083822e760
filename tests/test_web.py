"""The web UI in a real headless Chromium (Debian's), driven by Playwright; and the JSON API."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.articles import store
from tests.conftest import (
    CISMOA_OPED,
    REPO,
    create_database,
    write_config,
)
from tests.web import http_request, two_outlet_archive, web_server

ARTIFACTS = REPO / "tests" / "artifacts"
NOW = datetime.now(UTC)
CISMOA = CISMOA_OPED
FATF = (
    "Pakistan left the FATF grey list in 2022, the Financial Action Task Force said, and "
    "banks in Karachi say compliance costs have doubled since then. "
) * 3
EVIL = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)> FATF grey list"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("web")
    config_path, config, db = two_outlet_archive(tmp, f"sqlite:///{tmp / 'mw.db'}")
    ids = {
        "cismoa": store(
            db,
            config,
            "dawn",
            "dawn.example/cismoa",
            "Renewing CISMOA",
            CISMOA,
            NOW - timedelta(hours=3),
        ).id,
        "copy": store(
            db,
            config,
            "hindu",
            "hindu.example/cismoa",
            "CISMOA renewed, again",
            CISMOA + " Syndicated.",
            NOW - timedelta(hours=2),
        ).id,
        "fatf": store(
            db,
            config,
            "hindu",
            "hindu.example/fatf",
            "After the grey list",
            FATF,
            NOW - timedelta(hours=1),
        ).id,
        "evil": store(
            db, config, "dawn", "dawn.example/evil", EVIL, FATF + " Evil.", NOW - timedelta(hours=4)
        ).id,
    }
    db.dispose()
    with web_server(config_path) as base:
        yield {"base": base, "ids": ids, "tmp": tmp}


def test_api_matches_the_cli_json(server: dict[str, Any]) -> None:
    status, headers, body = http_request(server["base"] + "/api/articles?q=CISMOA")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    results = json.loads(body)
    assert {r["id"] for r in results} == {server["ids"]["cismoa"], server["ids"]["copy"]}
    assert set(results[0]) >= {
        "id",
        "url",
        "outlet",
        "title",
        "author",
        "published",
        "score",
        "topics",
        "snippet",
    }
    status, _, body = http_request(server["base"] + f"/api/articles/{server['ids']['fatf']}")
    article = json.loads(body)
    assert status == 200 and article["matches"] and "text" in article
    assert http_request(server["base"] + "/api/articles/99999")[0] == 404
    status, _, body = http_request(server["base"] + "/api/articles?q=%22open")
    assert status == 400 and "closing quote" in json.loads(body)["error"]
    status, headers, body = http_request(server["base"] + "/export.csv?q=grey")
    assert status == 200 and body.startswith("\ufeff".encode()) and b"After the grey list" in body
    spec = json.loads(http_request(server["base"] + "/openapi.json")[2])
    assert "/api/articles" in spec["paths"]


def test_security_headers(server: dict[str, Any]) -> None:
    _, headers, body = http_request(server["base"] + "/?q=FATF")
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none': no JS
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>window" not in body and b"&lt;script&gt;" in body


def test_token_login(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "catalogue": {"include": []},
            "web": {"token": "s3cret"},
        },
    )
    create_database(f"sqlite:///{tmp_path / 'x.db'}")  # read-only commands never create one
    with web_server(config) as base:
        assert http_request(base + "/")[0] == 401
        assert http_request(base + "/api/articles", token="wrong")[0] == 401
        assert http_request(base + "/api/articles", token="s3cret")[0] == 200


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own browser context: no cookies or history from another test."""
    p = browser.new_page()
    yield p
    p.close()


@pytest.fixture
def dialogs(page: Any) -> list[str]:
    """JavaScript dialogs the page opened (dismissed): a script ran if this is not empty."""
    seen: list[str] = []

    def dismiss(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


def test_search_filter_open_and_follow_duplicate(
    server: dict[str, Any], page: Any, dialogs: list[str]
) -> None:
    page.goto(server["base"] + "/")
    page.fill("input[name=q]", "CISMOA")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(".result")
    titles = page.locator(".result h2").all_inner_texts()
    assert set(titles) == {"Renewing CISMOA", "CISMOA renewed, again"}
    assert "CISMOA" in page.locator(".result mark").first.inner_text()
    assert "CISMOA" in page.locator(".result .badge").all_inner_texts()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)

    page.fill("input[name=q]", "banks")
    page.select_option("select[name=topic]", "fatf")
    page.select_option("select[name=outlet]", "hindu")
    page.click("button[type=submit]")
    page.wait_for_selector(".result")
    assert page.locator(".result h2").all_inner_texts() == ["After the grey list"]

    page.goto(server["base"] + "/?q=CISMOA&outlet=dawn")
    page.click(".result h2 a")
    page.wait_for_selector("article.full")
    assert page.locator("h1").inner_text() == "Renewing CISMOA"
    assert page.locator(".body mark").count() > 3
    page.click(".duplicates a")
    page.wait_for_selector("article.full")
    assert page.locator("h1").inner_text() == "CISMOA renewed, again"
    assert dialogs == []


def test_hostile_title_is_text_and_nothing_runs(
    server: dict[str, Any], page: Any, dialogs: list[str]
) -> None:
    page.goto(server["base"] + "/?q=evil")
    page.wait_for_selector(".result")
    assert "<script>window.__pwned = 1</script>" in page.locator(".result h2").inner_text()
    page.click(".result h2 a")
    page.wait_for_selector("article.full")
    assert page.locator("h1").inner_text().startswith("<script>")
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []


def test_outlets_page(server: dict[str, Any], page: Any) -> None:
    page.goto(server["base"] + "/outlets")
    assert page.locator("table.outlets tbody tr").count() == 2
    assert "never crawled" in page.locator("table.outlets").inner_text()


def test_malformed_query_shows_a_message(server: dict[str, Any], page: Any) -> None:
    page.goto(server["base"] + "/?q=%22open")
    assert "closing quote" in page.locator(".error").inner_text()
