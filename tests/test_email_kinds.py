"""Every kind of email (article alert, digest, edit, spike) through a real SMTP server: whatever
a page held, every line of what arrives is within SMTP's 998 characters and the headers
still carry the whole truth (a 3,000-character URL, not a shortened one); and every kind
shows times in the subscriber's `timezone`.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from alerts.assessment import assess
from alerts.delivery import deliver_pending
from alerts.digest import send_digests
from alerts.edits import EditAlerts
from alerts.outbox import AlertQueue
from alerts.rules import RuleSet
from alerts.spike_watch import check_spikes
from crawler.config import Config, config_from_dict
from storage.db import Database
from storage.models import ArticleRow
from storage.versions import Refetched, VersionMatch, apply_recheck
from tests.articles import open_db, store
from tests.conftest import CISMOA_OPED
from tests.smtp import SmtpServer

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 13:00 in Karachi
LONG_KEY = "dawn.example/opinion/" + "a" * 3000  # stored as https://<key>
HOSTILE_TITLE = "CISMOA " + "x" * 1500 + " \r\nBcc: evil@example.org"
MAX_LINE = 998


def _config(tmp: Path, port: int, zone: str) -> Config:
    raw = {
        "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
        "email": {"from": "alerts@mediawatch.test", "smtp_host": "127.0.0.1", "smtp_port": port},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/feed"]}],
        "subscriptions": [
            {
                "email": "desk@example.org",
                "on_edit": True,
                "spikes": True,
                "digest": "daily@07:00",
                "timezone": zone,
            }
        ],
    }
    return config_from_dict(raw, str(tmp / "mediawatch.toml"))


class World:
    """One subscriber, an archive with a long-URL article that is edited and spikes."""

    def __init__(self, tmp: Path, smtp: SmtpServer, zone: str) -> None:
        self.smtp = smtp
        self.config = _config(tmp, smtp.port, zone)
        self.db: Database = open_db(self.config)
        self.rules = RuleSet(self.config.topics)
        # an archive old enough for spikes to be judged, quiet about CISMOA until today
        store(
            self.db,
            self.config,
            "dawn",
            "dawn.example/old",
            "Weather",
            "Rain. " * 60,
            NOW - 30 * DAY,
        )
        # published 07:00 UTC, 12:00 in Karachi; four distinct stories, a spike
        self.article = store(
            self.db, self.config, "dawn", LONG_KEY, HOSTILE_TITLE, CISMOA_OPED, NOW - HOUR
        )
        for i in range(3):
            text = f"CISMOA was debated again. {_words(i)} CISMOA renewal is due."
            store(
                self.db, self.config, "dawn", f"dawn.example/{i}", f"CISMOA {i}", text, NOW - HOUR
            )
        self._edit(NOW + HOUR)  # seen 09:00 UTC, 14:00 in Karachi

    def _edit(self, when: datetime) -> None:
        title = HOSTILE_TITLE + " (updated)"
        body = CISMOA_OPED + " The talks were postponed indefinitely, officials said." * 5
        a = assess(title, body, self.rules)
        matches = [VersionMatch(m.topic, m.term, m.title_count, m.text_count) for m in a.matches]
        hook = EditAlerts(AlertQueue(self.config.subscriptions), self.config.subscriptions)
        with self.db.write() as session:
            page = Refetched(title, body, a.total, matches)
            assert apply_recheck(session, self.article.id, page, when).version == 2
            row = session.get(ArticleRow, self.article.id)
            assert row is not None
            hook.enqueue_for_edit(session, row, 2, when)

    def send_all(self) -> dict[str, EmailMessage]:
        """Every kind sent once; the emails by kind, each checked line by line as it arrived."""
        topics = [t.id for t in self.config.topics]
        assert [
            s.topic
            for s in check_spikes(self.config.subscriptions, topics, self.db, NOW + 2 * HOUR)
        ] == ["cismoa"]
        assert deliver_pending(self.config, self.db, self.rules, NOW + 2 * HOUR).sent == 6
        sent = send_digests(self.config, self.db, self.rules, NOW + 2 * HOUR, since=NOW - DAY)
        assert [o.status for o in sent] == ["sent"]
        kinds: dict[str, EmailMessage] = {}
        for raw in self.smtp.recorder.raw:
            lines = raw.split(b"\r\n")
            assert max(len(line) for line in lines) <= MAX_LINE
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            kind = next(
                k
                for k, header in [
                    ("spike", "X-Mediawatch-Spike"),
                    ("digest", "X-Mediawatch-Digest"),
                    ("edit", "X-Mediawatch-Version"),
                    ("alert", "X-Mediawatch-Topics"),
                ]
                if msg[header] is not None
            )
            if kind != "alert" or msg["X-Mediawatch-Article-URL"] == f"https://{LONG_KEY}":
                kinds[kind] = msg
        return kinds


DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def _words(seed: int) -> str:
    """Text of its own, so that no two stories are near-duplicates."""
    return " ".join(f"word{seed}x{j}" for j in range(120))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_a_3000_character_url_arrives_whole_in_every_kind(tmp_path: Path, smtp: SmtpServer) -> None:
    world = World(tmp_path, smtp, "UTC")
    kinds = world.send_all()
    assert sorted(kinds) == ["alert", "digest", "edit", "spike"]
    url = f"https://{LONG_KEY}"
    alert, edit = kinds["alert"], kinds["edit"]
    # the header is the URL, whole: not cut, not with white space added by folding
    assert alert["X-Mediawatch-Article-URL"] == url and edit["X-Mediawatch-Article-URL"] == url
    assert "cismoa" in alert["X-Mediawatch-Topics"].split(",")
    # a hostile title: one header line each, no injected header, shortened, not lost
    assert alert["Bcc"] is None and edit["Bcc"] is None
    assert ", Tehreek-e-Taliban Pakistan: CISMOA xxx" in alert["Subject"]
    assert str(edit["Subject"]).startswith("[mediawatch] Edited: CISMOA xxx")
    # the bodies link the whole URL too
    for msg in (alert, edit):
        assert url in _text(msg) and f'href="{url}"' in _html(msg)
    assert url in _text(kinds["digest"]) and url in _text(kinds["spike"])
    assert kinds["spike"]["X-Mediawatch-Spike"] == "cismoa 2026-11-26"
    # an ordinary URL's header is one unfolded line, as before (scripts grep for it)
    raws = [r for r in smtp.recorder.raw if b"https://dawn.example/0\r\n" in r]
    assert raws and b"X-Mediawatch-Article-URL: https://dawn.example/0\r\n" in raws[0]


def test_every_kind_shows_times_in_the_subscribers_zone(tmp_path: Path, smtp: SmtpServer) -> None:
    kinds = World(tmp_path, smtp, "Asia/Karachi").send_all()
    # published 07:00 UTC; the edit seen at 09:00 UTC
    assert "Published: 2026-11-26 12:00 Asia/Karachi" in _text(kinds["alert"])
    assert "Seen:      2026-11-26 14:00 Asia/Karachi" in _text(kinds["edit"])
    assert "seen 2026-11-26 14:00 Asia/Karachi" in _html(kinds["edit"])
    spike_text, spike_html = _text(kinds["spike"]), _html(kinds["spike"])
    assert "2026-11-26 12:00 Asia/Karachi" in spike_text and "(Asia/Karachi)" in spike_text
    assert "2026-11-26 12:00 Asia/Karachi" in spike_html
    assert "to 2026-11-26 15:00 Asia/Karachi" in _text(kinds["digest"])
    for msg in kinds.values():
        assert "UTC" not in _text(msg) and "UTC" not in _html(msg)


def test_an_encoded_word_in_a_page_adds_no_header_and_no_recipient(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    # Python's email package decodes "=?utf-8?q?...?=" in a header value it is given: from a
    # hostile title or URL, a line break and a header (or a body) of the page's choosing in
    # the email as sent (Python before 3.11.10).
    config = _config(tmp_path, smtp.port, "UTC")
    db = open_db(config)
    inject = "=?utf-8?q?=0D=0ABcc:=20evil@example.org?="
    store(
        db, config, "dawn", f"dawn.example/x?{inject}", f"CISMOA talks {inject}", CISMOA_OPED, NOW
    )
    assert deliver_pending(config, db, RuleSet(config.topics), NOW).sent == 1
    assert smtp.recorder.recipients == [["desk@example.org"]]
    raw = smtp.recorder.raw[0]
    assert b"\r\nBcc:" not in raw and b"\r\nbcc:" not in raw.lower()
    msg = smtp.recorder.messages[0]
    assert msg["Bcc"] is None
    assert "CISMOA talks" in msg["Subject"] and "evil@example.org" in msg["Subject"]  # as text
    assert "\n" not in msg["X-Mediawatch-Article-URL"]


@pytest.mark.parametrize(
    "hostile",
    [
        "— =?utf-8?q?=FF?= poisoned",  # malformed encoded-word beside a non-ASCII character
        "’s view =??b?ut?=",
        "=?utf-8?q?_a:=?=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGU=?=x",  # adjacent words
    ],
)
def test_an_encoded_word_title_neither_stops_delivery_nor_decodes(
    tmp_path: Path, smtp: SmtpServer, hostile: str
) -> None:
    """A title that could not be written stopped the whole round, and every later round, so
    no alert went out again; one of adjacent encoded-words decoded to a Reply-To line."""
    config = _config(tmp_path, smtp.port, "UTC")
    db = open_db(config)
    store(db, config, "dawn", "dawn.example/first", "CISMOA first", CISMOA_OPED, NOW)
    store(db, config, "dawn", "dawn.example/bad", f"CISMOA {hostile}", _words(1), NOW)
    store(db, config, "dawn", "dawn.example/third", "CISMOA third", _words(3), NOW)
    assert deliver_pending(config, db, RuleSet(config.topics), NOW).sent == 3
    subjects = [str(m["Subject"]) for m in smtp.recorder.messages]
    assert any("CISMOA first" in s for s in subjects) and any("CISMOA third" in s for s in subjects)
    [poisoned] = [
        m
        for m in smtp.recorder.messages
        if "first" not in m["Subject"] and "third" not in m["Subject"]
    ]
    # the title as it was, on one line, its "=?" written "= ?"; no header of its own
    assert f"CISMOA {hostile.replace('=?', '= ?')}" in str(poisoned["Subject"])
    assert poisoned["Reply-To"] is None


def test_an_email_that_cannot_be_written_fails_alone(tmp_path: Path) -> None:
    """Raised as it was, such an error stopped the delivery round (and every later one)."""
    from alerts.delivery import EmlOutbox
    from alerts.errors import PermanentDeliveryError

    msg = EmailMessage()
    msg["Subject"] = "a lone surrogate \udcff and a dash —"
    msg.set_content("text")
    with pytest.raises(PermanentDeliveryError, match="cannot be written"):
        EmlOutbox(tmp_path / "outbox").send(msg)
    assert not list((tmp_path / "outbox").glob("*"))
