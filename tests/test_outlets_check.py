"""`mediawatch outlets check` against fixture sources with every diagnosis."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.site import DemoArticle, FixtureSite, Page
from tests.conftest import cli_json, run_cli, write_config
from tests.smtp import free_port

NOW = datetime.now(UTC)


def item(path: str, days: float) -> DemoArticle:
    return DemoArticle(
        path=path, title="T", author="A", published=NOW - timedelta(days=days), paragraphs=["x"]
    )


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    s = FixtureSite().start()
    s.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    s.add_rss("/ok.xml", "ok", [item("/a/1", 0.1)])
    s.add("/forbidden.xml", Page(b"Forbidden", status=403))
    s.add("/limited.xml", Page(b"Too many", status=429))
    s.add("/challenge.xml", Page(b"<html><title>Just a moment...</title>cf-chl</html>"))
    s.add("/old.xml", Page(b"", status=301, headers={"Location": "/new.xml"}))
    s.add_rss("/new.xml", "new", [item("/a/2", 0.2)])
    s.add_rss("/empty.xml", "empty", [])
    s.add_rss("/stale.xml", "stale", [item("/a/3", 60)])
    s.add("/html-sitemap.xml", Page(b"<html><body>Welcome</body></html>"))
    s.add_rss("/private/feed.xml", "private", [item("/a/4", 0.1)])
    s.add_listing("/opinion", "Site", [item("/opinion/5/x", 0.1)])
    yield s
    s.stop()


def outlets(s: FixtureSite) -> list[dict[str, Any]]:
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"
    return [
        {
            "id": "good",
            "name": "Good",
            "feeds": [s.url("/ok.xml")],
            "sitemaps": [],
            "listings": [s.url("/opinion")],
            "article_url_pattern": r"/opinion/\d+/",
        },
        {
            "id": "bad",
            "name": "Bad",
            "feeds": [
                s.url("/forbidden.xml"),
                s.url("/limited.xml"),
                s.url("/challenge.xml"),
                s.url("/old.xml"),
                s.url("/empty.xml"),
                s.url("/stale.xml"),
                s.url("/nope.xml"),
                s.url("/private/feed.xml"),
                dead,
            ],
            "sitemaps": [s.url("/html-sitemap.xml")],
        },
    ]


def test_each_diagnosis(tmp_path: Path, site: FixtureSite) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "crawl": {"timeout": "5s"},
            "catalogue": {"include": []},
            "outlets": outlets(site),
        },
    )
    checking = run_cli("--config", str(config), "outlets", "check", "--format", "json")
    assert checking.returncode == 1, checking.stderr  # some sources have problems
    reports = json.loads(checking.stdout)
    verdicts = {r["url"].split("/", 3)[-1]: r["diagnosis"] for r in reports}
    assert verdicts == {
        "ok.xml": "ok",
        "opinion": "ok",
        "forbidden.xml": "blocked",
        "limited.xml": "blocked",
        "challenge.xml": "challenge",
        "old.xml": "moved",
        "empty.xml": "empty",
        "stale.xml": "stale",
        "nope.xml": "gone",
        "private/feed.xml": "robots",
        "feed.xml": "unreachable",
        "html-sitemap.xml": "invalid",
    }
    ok = next(r for r in reports if r["url"].endswith("/ok.xml"))
    assert ok["items"] == 1 and ok["status"] == 200 and ok["robots"] == "allowed"
    assert ok["newest"] is not None
    moved = next(r for r in reports if r["url"].endswith("/old.xml"))
    assert moved["final_url"].endswith("/new.xml") and "update the URL" in moved["detail"]
    listing = next(r for r in reports if r["url"].endswith("/opinion"))
    assert listing["items"] == 1
    # Error kinds in `crawl`'s words, so `status` and `outlets check` agree.
    kinds = {r["url"].split("/", 3)[-1]: r["error_kind"] for r in reports}
    assert kinds == {
        "ok.xml": None,
        "opinion": None,
        "forbidden.xml": "blocked",
        "limited.xml": "blocked",
        "challenge.xml": "challenge",
        "old.xml": None,
        "empty.xml": "empty",
        "stale.xml": None,
        "nope.xml": "gone",
        "private/feed.xml": "robots",
        "feed.xml": "connection",
        "html-sitemap.xml": "parse",
    }
    dead = next(r for r in reports if r["url"].split("/", 3)[-1] == "feed.xml")
    assert dead["detail"] == "connection: connection refused"

    text = run_cli("--config", str(config), "outlets", "check", "good")
    assert text.returncode == 0 and "2 sources checked, 0 with problems" in text.stdout
    text = run_cli("--config", str(config), "outlets", "check", "bad")
    assert text.returncode == 1 and "10 sources checked, 10 with problems (" in text.stdout
    assert "blocked 2" in text.stdout.splitlines()[-1]


def test_outlets_list(tmp_path: Path) -> None:
    listed = cli_json("outlets", "list", "--format", "json", cwd=tmp_path)
    assert len(listed) >= 30
    assert set(listed[0]) == {
        "id",
        "name",
        "country",
        "language",
        "feeds",
        "sitemaps",
        "listings",
        "interval",
    }
    pk = cli_json("outlets", "list", "--country", "PK", "--format", "json", cwd=tmp_path)
    assert pk and all(o["country"] == "PK" for o in pk)
    table = run_cli("outlets", "list", cwd=tmp_path)
    assert "dawn" in table.stdout and "outlets" in table.stdout.splitlines()[-1]


def test_a_malformed_answer_is_that_sources_verdict(tmp_path: Path, site: FixtureSite) -> None:
    """A server that does not speak HTTP (http.client.HTTPException) fails one source only."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    garbled = f"http://127.0.0.1:{listener.getsockname()[1]}/feed.xml"
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "crawl": {"timeout": "5s"},
            "catalogue": {"include": []},
            "outlets": [{"id": "mixed", "name": "Mixed", "feeds": [garbled, site.url("/ok.xml")]}],
        },
    )
    try:
        checking = run_cli("--config", str(config), "outlets", "check", "--format", "json")
    finally:
        listener.close()
    assert checking.returncode == 1
    reports = json.loads(checking.stdout)
    verdicts = {r["url"]: (r["diagnosis"], r["detail"]) for r in reports}
    assert verdicts[site.url("/ok.xml")][0] == "ok"
    assert verdicts[garbled][0] == "error"
    assert "malformed HTTP response" in verdicts[garbled][1]


def test_a_name_that_does_not_resolve_is_dns(tmp_path: Path) -> None:
    """A DNS failure is called `dns`, as `crawl` and `status` call it, not `[Errno -2]`."""
    # .invalid never resolves (RFC 6761): the local resolver answers at once, no network used.
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "crawl": {"timeout": "5s", "obey_robots": False},
            "catalogue": {"include": []},
            "outlets": [{"id": "lost", "name": "Lost", "feeds": ["http://nosuch.invalid/feed"]}],
        },
    )
    checking = run_cli("--config", str(config), "outlets", "check", "--format", "json")
    assert checking.returncode == 1
    [report] = json.loads(checking.stdout)
    assert report["diagnosis"] == "unreachable" and report["error_kind"] == "dns"
    assert report["detail"].startswith("dns: nosuch.invalid does not resolve")
    assert "Errno" not in report["detail"]
    text = run_cli("--config", str(config), "outlets", "check")
    assert text.returncode == 1
    assert "dns: nosuch.invalid does not resolve" in text.stdout
    assert text.stdout.splitlines()[-1] == "1 sources checked, 1 with problems (dns 1)"
