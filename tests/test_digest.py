"""Digests with time passed in: periods in the subscriber's zone, grouping, sent once."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from alerts.digest import make_digest, send_digests
from alerts.rules import RuleSet
from alerts.schedule import latest_period
from crawler.config import config_from_dict
from crawler.service.mail import digests_now
from tests.articles import open_db, store
from tests.conftest import CISMOA_OPED
from tests.smtp import SmtpServer

CISMOA = CISMOA_OPED
LINE = "Rain is expected across Punjab this week, with cooler nights in the north. "
FATF = "Pakistan left the FATF grey list in 2022, the Financial Action Task Force said. " + LINE * 3
OTHER_FATF = (
    "The FATF plenary in Paris reviewed money laundering controls in twelve countries "
    "and kept several on its grey list; officials promised new audits. "
) * 2
LATE_FATF = (
    "Bankers in Karachi welcomed the Financial Action Task Force statement, saying "
    "compliance costs had doubled since the grey list years began. "
) * 2
TTP = "The TTP militant group attacked a checkpost in Khyber, officials said. " + LINE * 3
# 08:00 in Karachi on 26 November: the 07:00 digest covers 25 Nov 07:00 to 26 Nov 07:00 PKT,
# that is 02:00 to 02:00 UTC.
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
PERIOD_START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer().start()
    yield server
    server.stop()


def setup(tmp: Path, port: int | None, more: list[dict[str, Any]] | None = None) -> Any:
    email: dict[str, Any] = {"from": "mw@example.org", "outbox_dir": str(tmp / "outbox")}
    if port:
        email |= {"smtp_host": "127.0.0.1", "smtp_port": port}
    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
            "email": email,
            "catalogue": {"include": []},
            "outlets": [
                {"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]},
                {"id": "hindu", "name": "The Hindu", "feeds": ["https://hindu.example/f"]},
            ],
            "subscriptions": [
                {
                    "email": "desk@example.org",
                    "digest": "daily@07:00",
                    "timezone": "Asia/Karachi",
                    "topics": ["cismoa", "fatf"],
                },
                *(more or []),
            ],
        },
        "(test)",
    )
    db = open_db(config)
    at = PERIOD_START + timedelta(hours=3)
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, at)
    store(
        db,
        config,
        "hindu",
        "hindu.example/cismoa",
        "CISMOA renewed",
        CISMOA + " Syndicated.",
        at + timedelta(hours=1),
    )
    store(db, config, "hindu", "hindu.example/fatf", "After the grey list", FATF, at)
    store(db, config, "dawn", "dawn.example/ttp", "The TTP attack", TTP, at)  # not subscribed
    store(
        db,
        config,
        "dawn",
        "dawn.example/old",
        "Old FATF news",
        OTHER_FATF,
        PERIOD_START - timedelta(minutes=1),
    )  # before the period
    store(
        db,
        config,
        "dawn",
        "dawn.example/late",
        "Late FATF news",
        LATE_FATF,
        NOW - timedelta(minutes=30),
    )  # after the period closed at 07:00 PKT
    return config, db


def test_schedules_in_the_subscribers_zone() -> None:
    p = latest_period("daily@07:00", "Asia/Karachi", NOW)
    assert p and (p.start, p.end, p.key) == (
        PERIOD_START,
        PERIOD_START + timedelta(days=1),
        "2026-11-26",
    )
    w = latest_period("weekly@mon@07:00", "Asia/Karachi", NOW)
    assert w and w.end == datetime(2026, 11, 23, 2, 0, tzinfo=UTC) and w.key == "2026-11-23"
    c = latest_period("30 6 * * *", "UTC", NOW)
    assert c and c.end == datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
    assert latest_period("off", "UTC", NOW) is None


def test_digest_groups_folds_and_counts(tmp_path: Path, smtp: SmtpServer) -> None:
    config, db = setup(tmp_path, smtp.port)
    outcomes = send_digests(config, db, RuleSet(config.topics), NOW)
    assert [(o.email, o.period, o.entries, o.status) for o in outcomes] == [
        ("desk@example.org", "2026-11-26", 2, "sent")
    ]
    [msg] = smtp.messages
    assert msg["Subject"] == "[mediawatch] Digest 2026-11-26: 2 articles"
    assert msg["X-Mediawatch-Digest"] == "2026-11-26"
    text = msg.get_body(("plain",)).get_content()
    assert text.index("== CISMOA (1) ==") < text.index("== FATF (1) ==")
    # the syndicated copy is one entry naming both outlets
    assert "also in" in text and "Dawn" in text and "The Hindu" in text
    assert "TTP attack" not in text and "Old FATF" not in text and "Late FATF" not in text


def test_no_second_digest_for_the_same_period(tmp_path: Path, smtp: SmtpServer) -> None:
    config, db = setup(tmp_path, smtp.port)
    rules = RuleSet(config.topics)
    send_digests(config, db, rules, NOW)
    again = send_digests(config, db, rules, NOW + timedelta(hours=5))
    assert [o.status for o in again] == ["already sent"]
    assert len(smtp.messages) == 1
    nextday = send_digests(config, db, rules, NOW + timedelta(days=1))
    assert [(o.period, o.entries, o.status) for o in nextday] == [("2026-11-27", 1, "sent")]
    assert "Late FATF" in smtp.messages[1].get_body(("plain",)).get_content()


def test_digest_while_smtp_is_down_is_retried(tmp_path: Path) -> None:
    from tests.smtp import free_port

    port = free_port()
    config, db = setup(tmp_path, port)
    rules = RuleSet(config.topics)
    assert [o.status for o in send_digests(config, db, rules, NOW)] == ["retrying"]
    server = SmtpServer(port).start()
    try:
        assert [o.status for o in send_digests(config, db, rules, NOW)] == ["sent"]
        assert [o.status for o in send_digests(config, db, rules, NOW)] == ["already sent"]
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_preview_and_since(tmp_path: Path, smtp: SmtpServer) -> None:
    config, db = setup(tmp_path, smtp.port)
    lines = "\n".join(digests_now(config, None, send=False, now=NOW))
    assert "Digest 2026-11-26: 2 articles" in lines and smtp.messages == []
    wide = "\n".join(digests_now(config, "3d", send=False, now=NOW))
    assert "Digest 2026-11-26: 4 articles" in wide and "Old FATF" in wide and "Late FATF" in wide


def test_digests_of_one_day_have_their_own_message_ids_and_files(tmp_path: Path) -> None:
    config, db = setup(tmp_path, None)  # no SMTP: .eml files
    for since in ("3d", "2d", "1d"):  # three digests, each labelled with the same date
        [line] = digests_now(config, since, send=True, now=NOW)
        assert line.endswith(": sent"), line
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3  # none overwrote another
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["X-Mediawatch-Digest"] for m in messages} == {"2026-11-26"}
    assert len({m["Message-ID"] for m in messages}) == 3
    # the same digest rendered again (a retry after a failure) keeps its Message-ID
    rules = RuleSet(config.topics)
    [sub] = config.subscriptions
    period = latest_period(sub.digest, sub.timezone, NOW)
    assert period is not None
    first = make_digest(config, db, rules, sub, period, NOW).message["Message-ID"]
    later = make_digest(config, db, rules, sub, period, NOW + timedelta(minutes=5))
    assert later.message["Message-ID"] == first


def test_digest_off_is_never_sent_but_can_be_previewed(tmp_path: Path, smtp: SmtpServer) -> None:
    quiet = {"email": "quiet@example.org", "digest": "off", "topics": ["fatf"]}
    config, db = setup(tmp_path, smtp.port, [quiet])
    sent = digests_now(config, "2d", send=True, now=NOW)
    assert not any("quiet@" in line for line in sent)
    assert send_digests(config, db, RuleSet(config.topics), NOW + timedelta(days=1)) != []
    assert {str(m["To"]) for m in smtp.messages} == {"desk@example.org"}
    preview = "\n".join(digests_now(config, "2d", send=False, now=NOW))
    assert "To: quiet@example.org" in preview


def test_a_digest_already_sent_is_not_built_again(tmp_path: Path, smtp: SmtpServer) -> None:
    """The daemon asks every minute: once the period's digest is recorded, the articles are not
    read again (they were, with full texts, for every subscription every minute)."""
    config, db = setup(tmp_path, smtp.port)
    rules = RuleSet(config.topics)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    assert [o.status for o in send_digests(config, db, rules, NOW)] == ["sent"]
    assert any("FROM articles" in s for s in statements)
    statements.clear()
    for minute in range(1, 4):
        again = send_digests(config, db, rules, NOW + timedelta(minutes=minute))
        assert [o.status for o in again] == ["already sent"]
    assert statements and not any("FROM articles" in s for s in statements)
    assert len(smtp.messages) == 1
