"""Trends: exact story counts on a fixture archive with syndicated copies and outlets in several
countries and languages, by the CLI and /api/trends on SQLite and PostgreSQL; the /trends page
in Chromium."""

import csv
import io
import json
import random
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.config import Config, config_from_dict
from storage.articles import NewArticle, NewMatch, OutletInfo, insert_article, sync_outlets
from storage.db import Database
from storage.trends import GroupBy, Interval, periods, story_counts
from tests.conftest import cli_json, run_cli, write_config
from tests.test_web import ARTIFACTS
from tests.web import http_request, web_server

TODAY = datetime.now(UTC).date()
DAY_A, DAY_B, DAY_C = (TODAY - timedelta(days=n) for n in (3, 2, 10))
OUTLETS = [
    {"id": "dawn", "name": "Dawn", "country": "PK", "language": "en"},
    {"id": "tribune", "name": "Express Tribune", "country": "PK", "language": "en"},
    {"id": "jang", "name": "Jang", "country": "PK", "language": "ur"},
    {"id": "hindu", "name": "The Hindu", "country": "IN", "language": "en"},
    {"id": "prothom", "name": "Prothom Alo", "country": "BD", "language": "bn"},
]
TOPICS = [
    {"id": "ttp", "name": "Tehreek-e-Taliban Pakistan", "terms": ["TTP"]},
    {"id": "fatf", "name": "FATF", "terms": ["FATF"]},
    {"id": "cismoa", "name": "CISMOA", "terms": ["CISMOA"]},
]


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def fixture_config(tmp: Path, url: str) -> tuple[Path, Config]:
    raw = {
        "database": {"url": url},
        "catalogue": {"include": []},
        "outlets": [{**o, "feeds": [f"https://{o['id']}.example/feed"]} for o in OUTLETS],
        "topics": TOPICS,
        "web": {"token": ""},
    }
    path = write_config(tmp / "mediawatch.toml", raw)
    return path, config_from_dict(raw, str(path))


class Archive:
    """Stories put straight into the database: copies share a SimHash, so the store links them
    to the first copy as near-duplicates, as a crawl would."""

    def __init__(self, config: Config) -> None:
        self.db = Database(config.database.url)
        self.db.upgrade()
        with self.db.write() as s:
            sync_outlets(
                s, [OutletInfo(o.id, o.name, o.country, o.language) for o in config.outlets]
            )
        self.random = random.Random(11)
        self.n = 0

    def story(
        self,
        topics: list[str],
        copies: list[tuple[str, datetime | None]],
        first_seen: datetime | None = None,
        title: str = "",
    ) -> list[int]:
        """One story: (outlet, published) per copy; a None date means the page gave none."""
        simhash = self.random.getrandbits(64)
        ids = []
        for outlet, published in copies:
            self.n += 1
            language = next(o["language"] for o in OUTLETS if o["id"] == outlet)
            new = NewArticle(
                url=f"https://{outlet}.example/{self.n}",
                url_key=f"{outlet}.example/{self.n}",
                outlet_id=outlet,
                title=title or f"Story {self.n}",
                text="words " * 50,
                published=published,
                date_source="page" if published else "none",
                language=language,
                score=3.0,
                simhash=simhash,
                matches=[NewMatch(t, t.upper(), 1, 1) for t in topics],
            )
            with self.db.write() as session:
                row = insert_article(session, new, first_seen or published or noon(TODAY))
                assert row is not None
                ids.append(row.id)
        return ids


def build(archive: Archive) -> dict[str, list[int]]:
    """The fixture: what each grouping must count is worked out in the tests below."""
    return {
        # first seen before the window (so stored before everything else) but dated inside
        # it: a page re-dated, or an old article that gave a later date
        "redated": archive.story(
            ["cismoa"], [("prothom", noon(DAY_B))], first_seen=noon(TODAY - timedelta(days=100))
        ),
        # syndicated: Dawn first, then the Tribune and The Hindu ran it
        "s1": archive.story(
            ["ttp"],
            [("dawn", noon(DAY_A)), ("tribune", noon(DAY_A)), ("hindu", noon(DAY_A))],
        ),
        "s2": archive.story(["ttp", "fatf"], [("jang", noon(DAY_A) + timedelta(hours=3))]),
        "s3": archive.story(
            ["fatf"], [("hindu", noon(DAY_B)), ("prothom", noon(DAY_B) + timedelta(hours=1))]
        ),
        # the page gave no date: counted on the day it was first seen
        "s4": archive.story(["ttp"], [("dawn", None)], first_seen=noon(DAY_C)),
        # published before the 90 days
        "old": archive.story(["ttp"], [("dawn", noon(TODAY - timedelta(days=120)))]),
        # matches no topic
        "none": archive.story([], [("dawn", noon(DAY_A))]),
    }


def nonzero(rows: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(r["period"], r["key"], r["stories"]) for r in rows if r["stories"]}


def monday(day: date) -> str:
    return (day - timedelta(days=day.weekday())).isoformat()


A, B, C = DAY_A.isoformat(), DAY_B.isoformat(), DAY_C.isoformat()
EXPECTED = {
    ("topic", ()): {
        (A, "ttp", 2),
        (C, "ttp", 1),
        (A, "fatf", 1),
        (B, "fatf", 1),
        (B, "cismoa", 1),
    },
    ("outlet", ()): {
        (A, "dawn", 1),
        (A, "tribune", 1),
        (A, "hindu", 1),
        (A, "jang", 1),
        (B, "hindu", 1),
        (B, "prothom", 2),
        (C, "dawn", 1),
    },
    # S1 ran in two Pakistani outlets: one story for PK
    ("country", ()): {(A, "PK", 2), (A, "IN", 1), (B, "IN", 1), (B, "BD", 2), (C, "PK", 1)},
    ("language", ()): {(A, "en", 1), (A, "ur", 1), (B, "en", 1), (B, "bn", 2), (C, "en", 1)},
    ("outlet", ("fatf",)): {(A, "jang", 1), (B, "hindu", 1), (B, "prothom", 1)},
    ("topic", ("fatf", "cismoa")): {(A, "fatf", 1), (B, "fatf", 1), (B, "cismoa", 1)},
}


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[dict[str, Any]]:
    path, config = fixture_config(tmp_path, db_url)
    archive = Archive(config)
    ids = build(archive)
    archive.db.dispose()
    yield {"path": path, "config": config, "ids": ids, "tmp": tmp_path}


def test_counts_by_each_grouping_from_the_cli_and_the_api(world: dict[str, Any]) -> None:
    config = str(world["path"])
    printed = {}  # each grouping's JSON, which the API must give too
    for (by, topics), expected in EXPECTED.items():
        args = [a for t in topics for a in ("--topic", t)]
        rows = cli_json("--config", config, "trends", "--by", by, *args, "--format", "json")
        printed[(by, topics)] = rows
        assert nonzero(rows) == expected, (by, topics)
        # every day of the window for every key, the quiet ones as 0: first day 90 days ago
        keys = {r["key"] for r in rows}
        assert keys == ({"ttp", "fatf", "cismoa"} if by == "topic" and not topics else keys)
        days = sorted({r["period"] for r in rows})
        assert days[0] == (TODAY - timedelta(days=90)).isoformat() and days[-1] == str(TODAY)
        assert len(rows) == len(days) * len(keys) and len(days) == 91
        assert set(rows[0]) == {"period", "key", "stories"}
    weeks = cli_json("--config", config, "trends", "--interval", "week", "--format", "json")
    expected_weeks: dict[tuple[str, str], int] = {}
    for period, key, n in EXPECTED[("topic", ())]:
        week = monday(date.fromisoformat(period))
        expected_weeks[(week, key)] = expected_weeks.get((week, key), 0) + n
    assert {(r["period"], r["key"]): r["stories"] for r in weeks if r["stories"]} == expected_weeks
    assert all(date.fromisoformat(r["period"]).weekday() == 0 for r in weeks)
    # a window that leaves out DAY_C
    recent = cli_json("--config", config, "trends", "--since", "5d", "--format", "json")
    assert nonzero(recent) == {(A, "ttp", 2), (A, "fatf", 1), (B, "fatf", 1), (B, "cismoa", 1)}

    with web_server(world["path"]) as base:
        for (by, topics), _ in EXPECTED.items():
            query = "&".join([f"by={by}", *(f"topic={t}" for t in topics)])
            status, headers, body = http_request(f"{base}/api/trends?{query}")
            assert status == 200 and headers["Content-Type"].startswith("application/json")
            assert json.loads(body) == printed[(by, topics)]
        spec = json.loads(http_request(base + "/openapi.json")[2])
        assert "/api/trends" in spec["paths"]
        status, _, body = http_request(f"{base}/api/trends?by=colour")
        assert status == 400 and "by: 'colour' is not one of" in json.loads(body)["error"]
        status, _, body = http_request(f"{base}/api/trends?topic=nope")
        assert status == 400 and "unknown topic 'nope'" in json.loads(body)["error"]


def test_table_csv_and_usage_errors(world: dict[str, Any]) -> None:
    config = str(world["path"])
    result = run_cli("--config", config, "trends", "--by", "country", "--since", "5d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PERIOD", "PK", "IN", "BD"] or set(lines[0].split()) == {
        "PERIOD",
        "PK",
        "IN",
        "BD",
    }
    header = lines[0].split()
    row_a = next(line.split() for line in lines if line.startswith(A))
    assert dict(zip(header[1:], row_a[1:], strict=True)) == {"PK": "2", "IN": "1", "BD": "0"}
    result = run_cli("--config", config, "trends", "--format", "csv", "--topic", "fatf")
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["period"], r["stories"]) for r in parsed if r["stories"] != "0"} == {
        (A, "1"),
        (B, "1"),
    }
    for args, message in [
        (["--topic", "nope"], "unknown topic 'nope'"),
        (["--since", "tomorrow"], "--since 'tomorrow'"),
        (["--since", "1990-01-01"], "more than 3700 days"),
        (["--by", "colour"], "Invalid value for '--by'"),
    ]:
        result = run_cli("--config", config, "trends", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_since_date_is_read_in_the_display_zone(tmp_path: Path) -> None:
    """`--since DAY` and /trends?since=DAY mean from midnight in the display zone, as
    `search --since` does: in Karachi (UTC+5) a story published at 02:00 on DAY (21:00 UTC
    the day before) counts, one published at 23:00 the evening before does not. Periods stay
    UTC days, so it counts on the UTC day it was published."""
    path, config = fixture_config(tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    write_config(path, {**raw, "web": {"token": "", "timezone": "Asia/Karachi"}})
    day = TODAY - timedelta(days=5)
    before = datetime.combine(day, time(0), tzinfo=UTC)
    archive = Archive(config)
    archive.story(["ttp"], [("dawn", before - timedelta(hours=3))], title="Late TTP story")
    archive.story(["ttp"], [("dawn", before - timedelta(hours=6))], title="Evening TTP story")
    archive.db.dispose()
    eve = (day - timedelta(days=1)).isoformat()
    since = ["--since", day.isoformat()]
    rows = cli_json("--config", str(path), "trends", "--topic", "ttp", *since, "--format", "json")
    assert nonzero(rows) == {(eve, "ttp", 1)}
    found = cli_json("--config", str(path), "search", *since, "--format", "json")
    assert [r["title"] for r in found] == ["Late TTP story"]
    with web_server(path) as base:
        status, _, body = http_request(f"{base}/api/trends?topic=ttp&since={day}")
        assert status == 200 and json.loads(body) == rows
        status, _, body = http_request(f"{base}/trends?topic=ttp&since={day}")
        assert status == 200 and f'<tr><td>{eve}</td><td class="num">1</td>' in body.decode()


def test_story_counts_one_query_totals(tmp_path: Path) -> None:
    """The share-of-voice totals: a story counts once per outlet or country over the window."""
    _, config = fixture_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    archive = Archive(config)
    build(archive)
    since = noon(TODAY - timedelta(days=90))
    with archive.db.read() as s:
        totals = story_counts(s, ["ttp", "fatf", "cismoa"], GroupBy.COUNTRY, since, None, None)
        by_topic = story_counts(s, ["ttp"], GroupBy.TOPIC, since, None, Interval.WEEK)
    assert {(r.key, r.stories) for r in totals} == {("PK", 3), ("IN", 2), ("BD", 2)}
    assert sum(r.stories for r in by_topic) == 3
    assert periods(date(2026, 11, 25), date(2026, 12, 8), Interval.WEEK) == [
        "2026-11-23",
        "2026-11-30",
        "2026-12-07",
    ]
    archive.db.dispose()


def test_trends_page_in_chromium(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from storage.outbox import record_spike

    chromium = request.getfixturevalue("browser")

    path, config = fixture_config(tmp_path, f"sqlite:///{tmp_path / 'mw.db'}")
    archive = Archive(config)
    build(archive)
    with archive.db.write() as session:
        record_spike(session, "ttp", A, "UTC", 2, 0.1, noon(TODAY))
    archive.db.dispose()
    page = chromium.new_page()
    scripts: list[str] = []
    page.on("dialog", lambda d: (scripts.append(d.message), d.dismiss()))
    try:
        with web_server(path) as base:
            status, headers, body = http_request(base + "/trends")
            assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
            assert b"<script" not in body and b"<svg" in body
            page.goto(base + "/trends")
            assert page.locator("figure.trend figcaption").all_inner_texts() == [
                "Tehreek-e-Taliban Pakistan",
                "FATF",
                "CISMOA",
            ]
            assert page.locator("figure[data-key=ttp] svg polyline").count() == 1
            spike = page.locator("figure[data-key=ttp] circle.spike")
            assert (
                spike.count() == 1
                and page.locator("figure[data-key=fatf] circle.spike").count() == 0
            )
            assert "Spike " + A + ": 2 stories" in (spike.locator("title").text_content() or "")
            row = page.locator("table.trends tbody tr", has_text=A)
            assert row.locator("td").all_inner_texts() == [A, "2", "1", "0"]
            voice = {
                tr.locator("td").nth(0).inner_text(): tr.locator("td").nth(1).inner_text()
                for tr in page.locator("table.voice.outlets tbody tr").all()
            }
            assert voice == {
                "Dawn": "2",
                "The Hindu": "2",
                "Express Tribune": "1",
                "Jang": "1",
                "Prothom Alo": "2",
            }
            countries = page.locator("table.voice.countries tbody tr td:first-child")
            assert countries.all_inner_texts() == ["PK", "BD", "IN"]  # ties by code
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "trends.png"), full_page=True)

            page.check("input[name=topic][value=fatf]")
            page.select_option("select[name=by]", "outlet")
            page.select_option("select[name=interval]", "week")
            page.click("button[type=submit]")
            page.wait_for_url("**/trends?*")
            # outlets in id order: hindu, jang, prothom
            assert page.locator("figure.trend figcaption").all_inner_texts() == [
                "The Hindu",
                "Jang",
                "Prothom Alo",
            ]
            first_days = page.locator("table.trends tbody td:first-child").all_inner_texts()
            assert all(date.fromisoformat(d).weekday() == 0 for d in first_days)
            page.screenshot(path=str(ARTIFACTS / "trends-by-outlet.png"), full_page=True)

            page.goto(base + "/trends?since=soon")
            assert "since 'soon'" in page.locator(".error").inner_text()
            assert scripts == []
    finally:
        page.close()


def test_chart_escapes_labels_and_marks_spikes() -> None:
    from crawler.web.trends import Series, line_chart

    days = ["2026-11-01", "2026-11-02", "2026-11-03"]
    svg = str(
        line_chart(days, Series("x", "<b>", [0, 4, 1], {1: 'Spike "<i>"'}), "<script>x</script>")
    )
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt;" in svg
    assert svg.count('class="spike"') == 1 and "&lt;i&gt;" in svg
    assert ">4</text>" in svg  # the maximum labels the top of the axis
    assert 'points="44.0,144.0 376.0,12.0 708.0,111.0"' in svg
