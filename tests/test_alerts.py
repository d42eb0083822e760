"""Immediate alerts through a real SMTP server: once each, filtered, retried, never lost."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from alerts.delivery import backoff, deliver_pending
from alerts.rules import RuleSet
from crawler.config import Config, config_from_dict
from storage.db import Database
from tests.articles import open_db, store
from tests.conftest import CISMOA_OPED, cli_json, run_cli, write_config
from tests.smtp import SmtpServer, free_port

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
WEATHER_LINE = "Rain is expected across Punjab this week, with cooler nights in the north. "
CISMOA = CISMOA_OPED
FATF = (
    "Pakistan left the FATF grey list in 2022. The Financial Action Task Force will review "
    "progress again next year, and the grey list remains a threat to banks. " + WEATHER_LINE * 3
)
WEATHER = WEATHER_LINE * 5


def raw_config(tmp: Path, port: int | None) -> dict[str, Any]:
    email: dict[str, Any] = {"from": "alerts@mediawatch.test", "outbox_dir": str(tmp / "outbox")}
    if port:
        email |= {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout": "5s"}
    return {
        "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
        "email": email,
        "catalogue": {"include": []},
        "outlets": [
            {"id": "dawn", "name": "Dawn", "country": "PK", "feeds": ["https://dawn.example/feed"]},
            {
                "id": "hindu",
                "name": "The Hindu",
                "country": "IN",
                "feeds": ["https://hindu.example/feed"],
            },
        ],
        "subscriptions": [
            {"email": "desk@example.org", "topics": ["cismoa"], "digest": "off"},
            {"email": "ops@example.org", "min_score": 5.0, "digest": "off"},
            {"email": "fatf@example.org", "topics": ["fatf"], "digest": "off"},
            {"email": "digest-only@example.org", "immediate": False},
        ],
    }


class Env:
    def __init__(self, tmp: Path, port: int | None) -> None:
        self.raw = raw_config(tmp, port)
        self.path = write_config(tmp / "mediawatch.toml", self.raw)
        self.config: Config = config_from_dict(self.raw, str(self.path))
        self.db: Database = open_db(self.config)

    def store(self, *args: Any, **kw: Any) -> Any:
        return store(self.db, self.config, *args, **kw)

    def flush(self, now: datetime = NOW) -> Any:
        return deliver_pending(self.config, self.db, RuleSet(self.config.topics), now)

    def cli(self, *args: str) -> Any:
        return run_cli("--config", str(self.path), *args)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def recipients(server: SmtpServer) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["X-Mediawatch-Article-URL"])) for m in server.messages)


def test_one_alert_per_article_and_subscription_with_filters(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    env = Env(tmp_path, smtp.port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    env.store("dawn", "dawn.example/rain", "Rain ahead", WEATHER, NOW)
    assert env.flush().sent == 4
    # desk@: cismoa only. fatf@: the op-ed mentions the FATF too. ops@: all topics but
    # min_score 5, which only the op-ed reaches. digest-only@: immediate = false. The
    # weather piece matches nothing.
    assert recipients(smtp) == [
        ("desk@example.org", "https://dawn.example/cismoa"),
        ("fatf@example.org", "https://dawn.example/cismoa"),
        ("fatf@example.org", "https://hindu.example/fatf"),
        ("ops@example.org", "https://dawn.example/cismoa"),
    ]
    assert env.flush().sent == 0 and len(smtp.messages) == 4  # never twice


def test_syndicated_copy_is_alerted_once(tmp_path: Path, smtp: SmtpServer) -> None:
    env = Env(tmp_path, smtp.port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    copy = env.store(
        "hindu",
        "hindu.example/cismoa-copy",
        "Renewing CISMOA (syndicated)",
        CISMOA + " The writer is a security analyst.",
        NOW,
    )
    assert copy.duplicate_of_id is not None
    env.flush()
    desk = [m for m in smtp.messages if m["To"] == "desk@example.org"]
    assert len(desk) == 1


def test_server_down_then_up_delivers_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    env = Env(tmp_path, port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    first = env.flush()
    assert first.sent == 0 and first.retrying == 3
    listing = cli_json("--config", str(env.path), "alerts", "list", "--format", "json")
    assert {a["status"] for a in listing} == {"pending"}
    assert all(a["attempts"] == 1 and a["last_error"] for a in listing)
    assert all(a["next_attempt_at"] > a["created_at"] for a in listing)
    server = SmtpServer(port).start()
    try:
        assert env.flush(NOW).sent == 0  # not due yet: backoff is respected
        assert env.flush(NOW + backoff(2)).sent == 3
        assert env.flush(NOW + backoff(5)).sent == 0
        assert len(server.messages) == 3
    finally:
        server.stop()


def test_temporary_refusal_is_retried(tmp_path: Path, smtp: SmtpServer) -> None:
    env = Env(tmp_path, smtp.port)
    smtp.recorder.mode = "temp"
    env.store("dawn", "dawn.example/fatf", "After the grey list", FATF, NOW)
    assert env.flush().retrying >= 1
    smtp.recorder.mode = "ok"
    result = env.cli("alerts", "flush")
    assert result.returncode == 0, result.stderr
    assert [m["To"] for m in smtp.messages] == ["fatf@example.org"]


def test_permanent_failure_is_recorded_not_retried(tmp_path: Path, smtp: SmtpServer) -> None:
    env = Env(tmp_path, smtp.port)
    smtp.recorder.mode = "perm"
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    report = env.flush()
    assert report.failed == 1 and report.sent == 0
    smtp.recorder.mode = "ok"
    assert env.flush(NOW + backoff(10)).sent == 0
    assert smtp.messages == []
    failed = cli_json(
        "--config", str(env.path), "alerts", "list", "--status", "failed", "--format", "json"
    )
    assert len(failed) == 1 and "550" in failed[0]["last_error"]
    text = env.cli("alerts", "list")
    assert "failed" in text.stdout and "No such user" in text.stdout


def test_restart_between_queueing_and_sending_loses_nothing(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    env = Env(tmp_path, smtp.port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.db.dispose()  # the process that queued them is gone
    result = env.cli("alerts", "flush")  # a new process delivers them
    assert result.returncode == 0, result.stderr
    assert "3 sent" in result.stdout
    assert len(smtp.messages) == 3


def test_hostile_titles_make_safe_emails(tmp_path: Path, smtp: SmtpServer) -> None:
    env = Env(tmp_path, smtp.port)
    title = "<script>alert(1)</script> CISMOA\r\nBcc: victim@example.org"
    env.store(
        "dawn", "dawn.example/evil", title, CISMOA.replace("Pakistan", "<b>Pakistan</b>"), NOW
    )
    env.flush()
    assert smtp.messages
    for msg in smtp.messages:
        assert msg["Bcc"] is None
        assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
        assert "<script>" in str(msg["Subject"])  # shown as text, harmless in a header
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "<b>Pakistan</b>" not in html
        assert "victim" not in str(msg["To"]) and "victim" not in str(msg["Cc"])


def test_alert_headers_and_stable_message_id(tmp_path: Path, smtp: SmtpServer) -> None:
    env = Env(tmp_path, smtp.port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.flush()
    desk = next(m for m in smtp.messages if m["To"] == "desk@example.org")
    assert (
        desk["Subject"] == "[mediawatch] CISMOA, FATF, Tehreek-e-Taliban Pakistan: Renewing CISMOA"
    )
    assert desk["X-Mediawatch-Article-URL"] == "https://dawn.example/cismoa"
    assert desk["X-Mediawatch-Topics"] == "cismoa,fatf,ttp"
    assert desk.get_content_type() == "multipart/alternative"
    assert "CISMOA" in desk.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = desk.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<a href="https://dawn.example/cismoa">' in html and "<mark>CISMOA</mark>" in html
    ids = {m["Message-ID"] for m in smtp.messages}
    assert len(ids) == len(smtp.messages)
    from alerts.compose import email_article
    from alerts.render import render_alert

    rules = RuleSet(env.config.topics)
    with env.db.read() as s:
        from storage.models import ArticleRow

        row = s.get(ArticleRow, 1)
        again = render_alert(
            email_article(row, rules, {}),
            "desk@example.org",
            "alerts@mediawatch.test",
            rules.names(),
            [],
            NOW,
        )
    assert again["Message-ID"] == desk["Message-ID"]


def test_eml_files_with_no_configuration(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mediawatch.db'}"},
            "catalogue": {"include": ["dawn"]},
        },
        "(test)",
    )
    db = open_db(config)
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    db.dispose()
    result = run_cli("alerts", "flush", cwd=tmp_path)  # no mediawatch.toml: all defaults
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "mediawatch@localhost"
    assert msg["X-Mediawatch-Article-URL"] == "https://dawn.example/cismoa"


def test_smtp_login_with_the_password_from_the_environment(tmp_path: Path) -> None:
    server = SmtpServer(password="hunter2").start()
    try:
        env = Env(tmp_path, server.port)
        env.raw["email"]["smtp_user"] = "mediawatch"
        write_config(env.path, env.raw)
        env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
        wrong = run_cli(
            "--config", str(env.path), "alerts", "flush", env={"MEDIAWATCH_SMTP_PASSWORD": "wrong"}
        )
        assert wrong.returncode == 1 and server.messages == []
        assert "pending" in env.cli("alerts", "list").stdout  # kept for after the fix
        right = run_cli(
            "--config",
            str(env.path),
            "alerts",
            "flush",
            env={"MEDIAWATCH_SMTP_PASSWORD": "hunter2"},
        )
        assert right.returncode == 0, right.stderr
        assert server.logins == ["mediawatch"] and len(server.messages) == 1
    finally:
        server.stop()


def test_starttls_and_login(tmp_path: Path) -> None:
    from tests.smtp import self_signed_tls

    tls, cert = self_signed_tls(tmp_path)
    server = SmtpServer(password="hunter2", tls=tls).start()
    trust = {"MEDIAWATCH_SMTP_PASSWORD": "hunter2", "SSL_CERT_FILE": str(cert)}
    try:
        env = Env(tmp_path, server.port)
        env.raw["email"] |= {"smtp_user": "mediawatch", "smtp_starttls": False}
        write_config(env.path, env.raw)
        env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
        plain = run_cli("--config", str(env.path), "alerts", "flush", env=trust)
        assert plain.returncode == 1 and server.messages == []  # the server demands STARTTLS
        listing = env.cli("alerts", "list").stdout
        assert "pending" in listing and "smtp_starttls" in listing  # says what to fix
        env.raw["email"]["smtp_starttls"] = True
        write_config(env.path, env.raw)
        secure = run_cli("--config", str(env.path), "alerts", "flush", env=trust)
        assert secure.returncode == 0, secure.stderr
        assert server.logins == ["mediawatch"] and len(server.messages) == 1
    finally:
        server.stop()


def test_a_new_database_beside_the_same_outbox_replaces_no_email(tmp_path: Path) -> None:
    """Article ids start from 1 again in a new database (started over, moved to PostgreSQL):
    its first alert had the old one's Message-ID, so its .eml file replaced an email about
    another article, and a mail service that drops repeated Message-IDs would drop it."""
    first = Env(tmp_path, None)
    first.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    assert first.flush().sent == 3
    sent = {p.name: p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")}
    (tmp_path / "mw.db").rename(tmp_path / "old.db")
    second = Env(tmp_path, None)  # the same configuration and outbox, an empty database
    second.store("hindu", "hindu.example/cismoa-2", "CISMOA again", CISMOA + " Later.", NOW)
    assert second.flush().sent == 3
    now_there = {p.name: p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")}
    assert len(now_there) == 6
    assert all(now_there[name] == body for name, body in sent.items())  # none replaced


def test_a_sent_alert_is_recorded_once_the_database_is_free_again(
    tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another command holds the SQLite file while the email is on its way: recording it as
    sent failed, the alert stayed claimed, and once its lease ended it was sent again. Now
    the record is tried again until the file is free: one email."""
    import logging
    import sqlite3
    import threading

    import alerts.delivery
    import storage.db
    from tests.conftest import wait_until

    monkeypatch.setattr(storage.db, "BUSY_TIMEOUT_MS", 300)  # the lock outlasts it sooner
    monkeypatch.setattr(alerts.delivery, "RECORD_RETRY", 0.2, raising=False)
    env = Env(tmp_path, smtp.port)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)  # 3 alerts
    smtp.recorder.hold = released = threading.Event()
    warned: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warned.append(record.getMessage())

    seen = Seen(logging.WARNING)
    logging.getLogger("alerts.delivery").addHandler(seen)
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            env.flush()
        except BaseException as exc:
            failures.append(exc)

    sender = threading.Thread(target=deliver)
    sender.start()
    holder = sqlite3.connect(tmp_path / "mw.db", isolation_level=None)
    try:
        wait_until("the SMTP session", lambda: bool(smtp.recorder.sessions), 60)
        holder.execute("BEGIN EXCLUSIVE")  # another command's long write
        released.set()
        wait_until(
            "a try to record it, refused",
            lambda: not sender.is_alive() or any("not yet recorded" in w for w in warned),
            60,
        )
        holder.execute("COMMIT")
        sender.join(60)
    finally:
        released.set()
        holder.close()
        logging.getLogger("alerts.delivery").removeHandler(seen)
    assert not failures, failures
    # Its lease long over: nothing is sent again.
    assert env.flush(NOW + timedelta(hours=1)).sent == 0
    assert sorted(str(m["To"]) for m in smtp.messages) == [
        "desk@example.org",
        "fatf@example.org",
        "ops@example.org",
    ]


def test_a_database_locked_past_the_timeout_is_one_line_not_a_bug(tmp_path: Path) -> None:
    """Another command holds the file past the 30 s busy timeout while `alerts flush` claims
    an alert: one line naming the cause and the fix, exit 1 (it said "a bug")."""
    import sqlite3

    env = Env(tmp_path, None)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    holder = sqlite3.connect(tmp_path / "mw.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        flushed = env.cli("alerts", "flush")
    finally:
        holder.close()
    assert flushed.returncode == 1, flushed.stderr
    assert "another command holds the database" in flushed.stderr
    assert "a bug" not in flushed.stderr and "Traceback" not in flushed.stderr
    assert env.flush().sent == 3  # nothing was lost: the alerts go once the file is free
