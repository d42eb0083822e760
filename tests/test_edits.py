"""Edited articles: re-checks on a schedule with conditional GET, versions, the diff on the
article page, and edit alerts once per version to the subscriptions that asked (on_edit).

The end-to-end part crawls a fixture outlet on 127.0.0.1 with `mediawatch crawl`, changing
its article's headline between crawls; "an hour passes" by moving the article's next re-check
time into the past. The storage parts run on SQLite and PostgreSQL.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from alerts.edits import EditAlerts, Matched
from alerts.mail_edit import render_edit_alert
from alerts.mailcontext import RenderContext
from alerts.outbox import AlertQueue
from alerts.rules import RuleSet
from alerts.wordiff import passages, word_diff
from crawler.archive.reader import Archive
from crawler.config import Config
from crawler.config.errors import ConfigError
from crawler.config.model import config_from_dict
from crawler.demo.site import DemoArticle, FixtureSite, Page, article_html
from storage.db import Database, make_engine
from storage.models import AlertRow, ArticleRow, ArticleVersionRow
from storage.queries import ArticleFilter
from storage.statuses import AlertKind
from storage.versions import (
    EDIT_WORDS,
    Refetched,
    VersionMatch,
    apply_recheck,
    claim_due_rechecks,
    first_recheck,
    measure_change,
)
from tests.articles import open_db, store
from tests.conftest import cli_json, run_cli, write_config
from tests.site import FILLER
from tests.web import http_request, web_server

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SCHEDULE = [HOUR, 6 * HOUR, 24 * HOUR]
SUBSCRIPTIONS = [
    {"email": "a@example.org", "topics": ["cismoa"], "on_edit": True, "digest": "off"},
    {"email": "b@example.org", "topics": ["cismoa"], "digest": "off"},
    {"email": "c@example.org", "topics": ["fatf"], "digest": "off"},
]
OLD_TITLE = "Talks on CISMOA resume in Islamabad"
NEW_TITLE = "FATF grey list: <b>Talks</b> on CISMOA stall"
PARAGRAPHS = [
    "Officials from both countries met on Tuesday to discuss the renewal of CISMOA, the "
    "communications agreement signed in 2005. " + FILLER * 2,
    "The next round is expected in the spring, the foreign office said. " + FILLER,
]
EDITED = [
    PARAGRAPHS[0],
    "The next round has been postponed indefinitely, officials said. " + FILLER,
]


# the threshold and the diff (pure)


def test_a_title_change_is_an_edit_and_a_typo_is_not() -> None:
    text = " ".join(f"word{i}" for i in range(1500))
    assert measure_change("A title", text, "A  title", text).is_edit is False
    assert measure_change("A title", text, "Another title", text).is_edit is True
    typo = text.replace("word7 ", "wrod7 ")
    assert measure_change("T", text, "T", typo).is_edit is False  # 1 word in 1,500
    paragraph = text + " " + " ".join(f"new{i}" for i in range(EDIT_WORDS))
    change = measure_change("T", text, "T", paragraph)
    assert change.similarity > 0.98 and change.words_changed == EDIT_WORDS and change.is_edit
    short = "Militants attacked a checkpost in Khyber on Monday night."
    assert measure_change("T", short, "T", short.replace("Monday", "Sunday")).is_edit


def test_word_diff_gives_back_both_versions_and_the_changed_passages() -> None:
    old = "\n\n".join(PARAGRAPHS)
    new = "\n\n".join(EDITED)
    pieces = word_diff(old, new)
    assert "".join(p.text for p in pieces if p.op != "ins") == old
    assert "".join(p.text for p in pieces if p.op != "del") == new
    found = passages(pieces, context=3)
    assert len(found) == 1
    shown = "".join(f"[{p.op}:{p.text}]" if p.op != "same" else p.text for p in found[0])
    assert (
        "round [del:is expected in the spring, the foreign office ]"
        "[ins:has been postponed indefinitely, officials ]said." in shown
    )
    assert shown.startswith("…") and shown.endswith("…")


def test_recheck_must_list_times_from_the_shortest_up() -> None:
    assert config_from_dict({"crawl": {"recheck": []}}, "t.toml").crawl.recheck == []
    assert config_from_dict({}, "t.toml").crawl.recheck == SCHEDULE
    with pytest.raises(ConfigError, match="from the shortest up"):
        config_from_dict({"crawl": {"recheck": ["6h", "1h"]}}, "t.toml")
    with pytest.raises(ConfigError, match=r"crawl.recheck\[0\]: .*not a duration"):
        config_from_dict({"crawl": {"recheck": ["soon"]}}, "t.toml")


# storage, on SQLite and PostgreSQL


def _world(db_url: str, tmp_path: Path) -> tuple[Config, Database]:
    config = config_from_dict(
        {
            "database": {"url": db_url},
            "catalogue": {"include": []},
            "outlets": [{"id": "delta", "name": "Delta Post", "feeds": ["https://d.example/f"]}],
            "subscriptions": SUBSCRIPTIONS,
        },
        "test",
    )
    return config, open_db(config)


def _scored(config: Config, title: str, text: str) -> Refetched:
    from alerts.assessment import assess

    a = assess(title, text, RuleSet(config.topics))
    matches = [VersionMatch(m.topic, m.term, m.title_count, m.text_count) for m in a.matches]
    return Refetched(title, text, a.total, matches, etag='"v2"', last_modified=None)


@pytest.fixture
def archive(db_url: str, tmp_path: Path) -> Iterator[tuple[Config, Database, int]]:
    config, db = _world(db_url, tmp_path)
    row = store(db, config, "delta", "d.example/1", OLD_TITLE, "\n\n".join(PARAGRAPHS), T0)
    with db.write() as session:
        stored = session.get(ArticleRow, row.id)
        assert stored is not None
        stored.next_recheck_at = first_recheck(stored.first_seen, SCHEDULE)
        article_id = stored.id
    yield config, db, article_id
    db.dispose()


def test_rechecks_come_due_on_schedule_and_skip_missed_steps(
    archive: tuple[Config, Database, int],
) -> None:
    config, db, article_id = archive

    def claim(at: datetime) -> list[int]:
        with db.write() as session:
            return [d.article_id for d in claim_due_rechecks(session, "delta", SCHEDULE, at, 10)]

    def next_at() -> datetime | None:
        with db.read() as session:
            row = session.get(ArticleRow, article_id)
            assert row is not None
            return row.next_recheck_at

    assert claim(T0 + 59 * timedelta(minutes=1)) == []
    assert claim(T0 + HOUR) == [article_id]
    assert next_at() == T0 + 6 * HOUR
    assert claim(T0 + 2 * HOUR) == []  # taken once per step
    assert claim(T0 + 30 * HOUR) == [article_id]  # the 6h and 24h steps, missed: one re-check
    assert next_at() is None
    assert claim(T0 + 300 * HOUR) == []
    with db.write() as session:
        assert claim_due_rechecks(session, "delta", [], T0 + 300 * HOUR, 10) == []


def test_an_unchanged_page_stores_nothing_and_an_edit_stores_a_version(
    archive: tuple[Config, Database, int],
) -> None:
    config, db, article_id = archive
    same = _scored(config, OLD_TITLE, "\n\n".join(PARAGRAPHS))
    with db.write() as session:
        result = apply_recheck(session, article_id, same, T0 + HOUR)
        assert result.version is None
    with db.read() as session:
        row = session.get(ArticleRow, article_id)
        assert row is not None and row.version == 1 and row.etag == '"v2"'
        assert session.scalars(select(ArticleVersionRow)).all() == []

    edited = _scored(config, NEW_TITLE, "\n\n".join(EDITED))
    with db.write() as session:
        assert apply_recheck(session, article_id, edited, T0 + 6 * HOUR).version == 2
    with db.read() as session:
        row = session.get(ArticleRow, article_id)
        assert row is not None
        assert (row.title, row.version, row.edited_at) == (NEW_TITLE, 2, T0 + 6 * HOUR)
        assert {m.topic for m in row.matches} == {"cismoa", "fatf"}
        versions = session.scalars(
            select(ArticleVersionRow).order_by(ArticleVersionRow.version)
        ).all()
        assert [(v.version, v.seen_at, v.title) for v in versions] == [
            (1, T0, OLD_TITLE),
            (2, T0 + 6 * HOUR, NEW_TITLE),
        ]
    # The full-text index follows the latest version.
    reader = Archive(db, RuleSet(config.topics))
    assert [r["id"] for r in reader.search(ArticleFilter(query="postponed"))] == [article_id]
    assert reader.search(ArticleFilter(query="spring")) == []
    shown = reader.show(article_id)
    assert [(v["version"], v["title"]) for v in shown["versions"]] == [
        (1, OLD_TITLE),
        (2, NEW_TITLE),
    ]


def _alerts(db: Database) -> list[tuple[str, str, int]]:
    with db.read() as session:
        rows = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        return [(a.subscription, a.kind, a.version) for a in rows]


def test_edit_alerts_go_once_per_version_to_those_who_asked(
    archive: tuple[Config, Database, int],
) -> None:
    config, db, article_id = archive
    assert _alerts(db) == [("a@example.org", "article", 0), ("b@example.org", "article", 0)]
    queue = AlertQueue(config.subscriptions)
    hook = EditAlerts(queue, config.subscriptions).enqueue_for_edit
    for when in (2 * HOUR, 3 * HOUR):  # the same version twice: still one alert each
        with db.write() as session:
            edited = _scored(config, NEW_TITLE, "\n\n".join(EDITED))
            result = apply_recheck(session, article_id, edited, T0 + when)
            row = session.get(ArticleRow, article_id)
            assert row is not None
            hook(session, row, 2, T0 + when)
            assert result.version == (2 if when == 2 * HOUR else None)
    assert sorted(_alerts(db)[2:]) == [
        ("a@example.org", "edit", 2),
        ("c@example.org", "article", 0),
    ]
    with db.write() as session:
        third = _scored(config, NEW_TITLE + " again", "\n\n".join(EDITED))
        assert apply_recheck(session, article_id, third, T0 + 4 * HOUR).version == 3
        row = session.get(ArticleRow, article_id)
        assert row is not None
        hook(session, row, 3, T0 + 4 * HOUR)
    # c@ was alerted by the article alert (it newly matched) and did not ask for edits.
    assert _alerts(db)[4:] == [("a@example.org", "edit", 3)]
    assert queue.queued == 3

    with db.read() as session:
        alert = session.scalars(
            select(AlertRow).where(AlertRow.kind == AlertKind.EDIT, AlertRow.version == 2)
        ).one()
        ctx = RenderContext(config, RuleSet(config.topics), {"delta": "Delta Post"}, T0)
        msg = render_edit_alert(session, alert, "a@example.org", ctx)
    assert msg is not None
    _check_edit_email(msg, NEW_TITLE, "2")


def _check_edit_email(msg: EmailMessage, title: str, version: str) -> None:
    assert msg["Subject"] == f"[mediawatch] Edited: {title}"
    assert msg["X-Mediawatch-Version"] == version
    assert msg["X-Mediawatch-Article-URL"].startswith(("http://", "https://"))
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    body, page = plain.get_content(), html.get_content()
    assert f"was: {OLD_TITLE}" in body and f"now: {title}" in body
    assert (
        "[-is expected in the spring, the foreign office -]"
        "{+has been postponed indefinitely, officials +}said." in body
    )
    assert "&lt;b&gt;Talks&lt;/b&gt;" in page and "<b>Talks" not in page
    assert "<ins" in page and "postponed indefinitely" in page


# end to end: a fixture outlet whose article changes its headline between crawls


class Outlet:
    """The fixture outlet `delta`: an RSS feed and one article page with an ETag."""

    PATH = "/delta/news/1/talks"

    def __init__(self) -> None:
        self.site = FixtureSite().start()
        self.article = DemoArticle(
            path=self.PATH,
            title=OLD_TITLE,
            author="Staff Writer",
            published=datetime.now(UTC).replace(microsecond=0) - HOUR,
            paragraphs=PARAGRAPHS,
        )
        self.publish(self.article, '"v1"')
        self.site.add_rss("/delta/feed.xml", "Delta Post", [self.article])

    def publish(self, article: DemoArticle, etag: str) -> None:
        body = article_html(article, "Delta Post", self.site.base).encode()
        self.site.add(article.path, Page(body, headers={"ETag": etag}))

    def edit(self) -> None:
        self.article.title, self.article.paragraphs = NEW_TITLE, EDITED
        self.publish(self.article, '"v2"')


class Crawls:
    """The outlet crawled by `mediawatch crawl`, with what each crawl left behind."""

    def __init__(self, tmp: Path) -> None:
        self.outlet = Outlet()
        self.db = tmp / "mw.db"
        self.outbox = tmp / "outbox"
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": f"sqlite:///{self.db}"},
                "crawl": {"download_delay": 0, "retries": 0, "timeout": "10s"},
                "email": {"outbox_dir": str(self.outbox)},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "delta",
                        "name": "Delta Post",
                        "country": "PK",
                        "feeds": [self.outlet.site.url("/delta/feed.xml")],
                    }
                ],
                "subscriptions": SUBSCRIPTIONS,
            },
        )
        self.emails: list[list[EmailMessage]] = []  # new emails after each crawl
        self.summaries: list[dict[str, Any]] = []
        self.not_modified_after_second = 0  # 304 answers for the article by then

    def crawl(self) -> None:
        before = set(self.outbox.glob("*.eml"))
        self.summaries.append(cli_json("--config", str(self.config), "crawl", "--format", "json"))
        new = sorted(set(self.outbox.glob("*.eml")) - before)
        self.emails.append(
            [message_from_bytes(p.read_bytes(), policy=policy.default) for p in new]  # type: ignore[misc]
        )

    def an_hour_passes(self) -> None:
        """The article's next re-check comes due (the schedule itself is tested above)."""
        engine = make_engine(f"sqlite:///{self.db}")
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE articles SET next_recheck_at = :t WHERE next_recheck_at IS NOT NULL"),
                {"t": datetime(2000, 1, 1)},
            )
        engine.dispose()

    def runs(self) -> list[tuple[int, int]]:
        engine = make_engine(f"sqlite:///{self.db}")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT rechecked, edited FROM crawl_runs ORDER BY id"))
            out = [(int(a), int(b)) for a, b in rows]
        engine.dispose()
        return out

    def show(self) -> dict[str, Any]:
        found = cli_json("--config", str(self.config), "search", "--format", "json")
        assert len(found) == 1
        return dict(
            cli_json("--config", str(self.config), "show", str(found[0]["id"]), "--format", "json")
        )


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    """Four crawls: stored; re-checked unchanged (304); re-checked after the headline changed;
    re-checked unchanged again."""
    c = Crawls(tmp_path_factory.mktemp("edits"))
    try:
        c.crawl()
        c.an_hour_passes()
        c.crawl()
        c.not_modified_after_second = c.outlet.site.not_modified[Outlet.PATH]
        c.outlet.edit()
        c.an_hour_passes()
        c.crawl()
        c.an_hour_passes()
        c.crawl()
        yield c
    finally:
        c.outlet.site.stop()


def _to(emails: list[EmailMessage]) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in emails)


def test_first_crawl_stores_and_alerts_as_usual(crawls: Crawls) -> None:
    assert _to(crawls.emails[0]) == [
        ("a@example.org", f"[mediawatch] CISMOA: {OLD_TITLE}"),
        ("b@example.org", f"[mediawatch] CISMOA: {OLD_TITLE}"),
    ]


def test_an_unchanged_page_is_answered_304_and_nothing_is_stored(crawls: Crawls) -> None:
    assert crawls.not_modified_after_second == 1
    assert crawls.emails[1] == [] and crawls.emails[3] == []
    assert crawls.summaries[1]["new_articles"] == 0
    assert crawls.runs() == [(0, 0), (1, 0), (1, 1), (1, 0)]
    assert crawls.outlet.site.not_modified[Outlet.PATH] == 2  # the fourth crawl's too


def test_an_edit_is_a_new_version_and_alerts_those_who_asked_once(crawls: Crawls) -> None:
    title = NEW_TITLE
    emails = crawls.emails[2]
    assert _to(emails) == [
        ("a@example.org", f"[mediawatch] Edited: {title}"),
        ("c@example.org", f"[mediawatch] CISMOA, FATF: {title}"),
    ]
    edit = next(m for m in emails if str(m["To"]) == "a@example.org")
    assert edit["X-Mediawatch-Article-URL"] == crawls.outlet.site.url(Outlet.PATH)
    _check_edit_email(edit, title, "2")


def test_show_lists_the_versions(crawls: Crawls) -> None:
    shown = crawls.show()
    assert shown["title"] == NEW_TITLE
    assert [(v["version"], v["title"]) for v in shown["versions"]] == [
        (1, OLD_TITLE),
        (2, NEW_TITLE),
    ]
    first, second = (datetime.fromisoformat(v["seen_at"]) for v in shown["versions"])
    assert first < second and set(shown["versions"][0]) == {"version", "seen_at", "title"}
    # The text form shows the versions' times as every other time there: in the display zone.
    text_form = run_cli("--config", str(crawls.config), "show", str(shown["id"])).stdout
    seen = f"{first:%Y-%m-%d %H:%M} UTC"
    assert f"  version 1  seen {seen}  {OLD_TITLE}\n" in text_form


def test_the_article_page_shows_edited_and_the_word_diff(crawls: Crawls, tmp_path: Path) -> None:
    article_id = crawls.show()["id"]
    with web_server(crawls.config, tmp_path / "web.log") as base:
        status, _, body = http_request(f"{base}/articles/{article_id}")
        assert status == 200
        page = body.decode()
        assert 'class="badge edited"' in page and "Edited: 2 versions" in page
        assert "<del>is expected in the spring, the foreign office </del>" in page
        assert "<ins>has been postponed indefinitely, officials </ins>said." in page
        assert "<ins>FATF grey list: &lt;b&gt;Talks&lt;/b&gt; </ins>" in page
        assert "<b>Talks" not in page and "<script" not in page
        status, _, plain = http_request(f"{base}/articles/{article_id}?version=9")
        assert status == 200 and "version 2</h3>" in plain.decode()


def test_an_edit_tells_no_one_of_an_article_they_matched_all_along(
    archive: tuple[Config, Database, int],
) -> None:
    """A subscription the article already matched before the edit, and that was never told
    (a backfill without --alert stored it quietly), is not sent a "new article" alert by the
    edit; one the edit newly matches is."""
    config, db, article_id = archive
    with db.write() as session:  # as if a backfill had stored it: nobody was told
        session.execute(delete(AlertRow))
    hook = EditAlerts(AlertQueue(config.subscriptions), config.subscriptions).enqueue_for_edit
    with db.write() as session:
        edited = _scored(config, NEW_TITLE, "\n\n".join(EDITED))
        assert apply_recheck(session, article_id, edited, T0 + 2 * HOUR).version == 2
        row = session.get(ArticleRow, article_id)
        assert row is not None
        hook(session, row, 2, T0 + 2 * HOUR, Matched(frozenset({"cismoa"}), 5.0))
    # a@ and b@ (cismoa) matched before and were never told: still not told; c@ (fatf) is new
    assert _alerts(db) == [("c@example.org", "article", 0)]


def test_a_recheck_redirected_to_the_home_page_is_no_new_version(tmp_path: Path) -> None:
    """The article's URL sends readers to the home page for a while (a glitch): its re-check
    stored the home page as the article's new version and sent an "Edited:" email about it.
    Now the stored version stands, the redirect is counted, and the next re-check sees the
    article again."""
    c = Crawls(tmp_path)
    try:
        c.crawl()
        home = (
            b"<html><head><title>Delta Post</title></head><body><h1>Delta Post</h1>"
            + (b"<p>Today's headlines, sport and weather from around the country.</p>" * 40)
            + b"</body></html>"
        )
        c.outlet.site.add("/", Page(home))
        c.outlet.site.add(Outlet.PATH, Page(b"", status=302, headers={"Location": "/"}))
        c.an_hour_passes()
        c.crawl()
        assert c.emails[1] == []
        assert c.summaries[1]["outlets"][0]["error_kinds"] == {"redirected": 1}
        shown = c.show()
        assert shown["title"] == OLD_TITLE and len(shown["versions"]) == 1
        c.outlet.edit()  # the glitch is over, and the headline has changed meanwhile
        c.an_hour_passes()
        c.crawl()  # its next re-check sees the article again
        assert _to(c.emails[2])[0] == ("a@example.org", f"[mediawatch] Edited: {NEW_TITLE}")
    finally:
        c.outlet.site.stop()
