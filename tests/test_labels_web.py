"""Relevance marks on the article page, in a real headless Chromium: a reader marks an article
and `rules eval` changes; forged and cross-site POSTs are refused; "more like this" lists
similar pieces, not the article's own copies."""

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.articles import store
from tests.conftest import cli_json
from tests.web import http_request, two_outlet_archive, web_server

NOW = datetime.now(UTC)
FATF = (
    "Pakistan left the FATF grey list in 2022, the Financial Action Task Force said, and "
    "banks in Karachi say compliance costs for remittances have doubled since then. "
) * 3
FATF_AGAIN = (
    "Karachi banks count the compliance costs of remittances two years after the FATF "
    "plenary in Paris; the grey list still shapes how they vet customers. "
) * 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("labels")
    path, config, db = two_outlet_archive(tmp, f"sqlite:///{tmp / 'mw.db'}")
    at = NOW - timedelta(hours=2)
    ids = {
        "fatf": store(db, config, "dawn", "dawn.example/fatf", "After the grey list", FATF, at).id,
        "copy": store(
            db, config, "hindu", "hindu.example/fatf", "After the list", FATF + " Syndicated.", at
        ).id,
        "again": store(
            db, config, "hindu", "hindu.example/again", "Costs of compliance", FATF_AGAIN, at
        ).id,
    }
    db.dispose()
    with web_server(path, log=tmp / "web.log") as base:
        yield {"base": base, "ids": ids, "path": path}


def _eval(server: dict[str, Any]) -> dict[str, Any]:
    rows = cli_json("rules", "eval", "--config", str(server["path"]), "--format", "json")
    return {r["topic"]: r for r in rows}


def test_marking_an_article_relevant_changes_rules_eval(
    server: dict[str, Any], browser: Any
) -> None:
    assert _eval(server)["fatf"]["labelled"] == 0
    page = browser.new_page()
    try:
        page.goto(f"{server['base']}/articles/{server['ids']['fatf']}")
        row = page.locator(".mark-row[data-topic=fatf]")
        assert "not marked" in row.inner_text()
        row.get_by_role("button", name="Relevant: FATF", exact=True).click()
        page.wait_for_url(f"**/articles/{server['ids']['fatf']}#marks")
        assert "marked relevant" in page.locator(".mark-row[data-topic=fatf]").inner_text()
        after = _eval(server)["fatf"]
        assert after == {
            "topic": "fatf",
            "labelled": 1,
            "precision": 1.0,
            "recall": 1.0,
            "f1": 1.0,
        }
        # Marked not relevant: the matching rule is now a false positive.
        page.locator(".mark-row[data-topic=fatf]").get_by_role(
            "button", name="Not relevant: FATF"
        ).click()
        page.wait_for_load_state()
        assert "marked not relevant" in page.locator(".mark-row[data-topic=fatf]").inner_text()
        assert _eval(server)["fatf"]["precision"] == 0.0
        page.locator(".mark-row[data-topic=fatf]").get_by_role("button", name="Clear: FATF").click()
        page.wait_for_load_state()
        assert _eval(server)["fatf"]["labelled"] == 0
        # More like this: the other FATF piece, not the article itself or its syndicated copy.
        links = page.locator(".similar a").evaluate_all("els => els.map(e => e.href)")
        assert [link.rsplit("/", 1)[1] for link in links] == [str(server["ids"]["again"])]
    finally:
        page.close()


def test_forged_and_cross_site_marks_are_refused(server: dict[str, Any]) -> None:
    url = f"{server['base']}/articles/{server['ids']['fatf']}/labels"
    body = urllib.parse.urlencode({"topic": "fatf", "mark": "relevant", "csrf": "0" * 64})
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def post(headers: dict[str, str], data: str = body) -> int:
        request = urllib.request.Request(url, data=data.encode(), method="POST")
        for k, v in {**form, **headers}.items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post({}) == 403  # no cookie
    assert post({"Cookie": "mediawatch_csrf=" + "a" * 32}) == 403  # a token not made for it
    # The page's own token works, but not from another site.
    status, headers, page = http_request(f"{server['base']}/articles/{server['ids']['fatf']}")
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=strict" in headers["Set-Cookie"]
    token = page.decode().split('name="csrf" value="')[1].split('"')[0]
    good = urllib.parse.urlencode({"topic": "fatf", "mark": "relevant", "csrf": token})
    assert post({"Cookie": cookie, "Sec-Fetch-Site": "cross-site"}, good) == 403
    bad_topic = good.replace("fatf", "nope")
    assert post({"Cookie": cookie}, bad_topic) == 400
    assert post({"Cookie": cookie}, good) == 200  # followed the 303 back to the page
    assert _eval(server)["fatf"]["labelled"] == 1
    assert post({"Cookie": cookie}, good.replace("relevant", "clear")) == 200
    status, headers, _ = http_request(f"{server['base']}/articles/{server['ids']['fatf']}")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
