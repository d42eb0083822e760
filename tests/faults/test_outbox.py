"""The outbox under concurrent senders and a broken .eml folder: nothing sent twice, none lost."""

import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from alerts.delivery import backoff
from crawler.config import config_from_dict
from storage.db import Database, make_engine
from storage.migrate import upgrade
from storage.models import AlertRow
from storage.outbox import claim_alert, due_alerts, lease_clock, mark_retry, mark_sent
from tests.articles import open_db, store
from tests.conftest import run_cli, wait_until, write_config
from tests.smtp import SmtpServer
from tests.test_alerts import CISMOA, FATF, NOW, Env

SUBSCRIBERS = 12
FAR = datetime.max.replace(tzinfo=UTC)
LEASE = timedelta(minutes=10)


def statuses(db: Database) -> list[str]:
    with db.read() as s:
        return [a.status for a in s.query(AlertRow).order_by(AlertRow.id)]


def test_the_daemon_and_alerts_flush_never_send_one_alert_twice(
    tmp_path: Path, db_url: str
) -> None:
    smtp = SmtpServer().start()
    # Every DATA waits until a second sender has connected: the daemon is surely mid-send
    # (its alert claimed, not yet marked sent) while `alerts flush` looks for work.
    smtp.recorder.gate = 2
    raw: dict[str, Any] = {
        "database": {"url": db_url},
        "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_timeout": "60s"},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/feed"]}],
        "subscriptions": [
            {"email": f"s{i}@example.org", "digest": "off"} for i in range(SUBSCRIBERS)
        ],
    }
    path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    db = open_db(config)
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    store(db, config, "dawn", "dawn.example/fatf", "After the grey list", FATF, NOW)
    expected = 2 * SUBSCRIBERS
    assert statuses(db) == ["pending"] * expected
    log = (tmp_path / "daemon.log").open("ab")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "crawler", "--config", str(path), "run"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_until("the daemon to start sending", lambda: len(smtp.recorder.sessions) >= 1, 60)
        flush = run_cli("--config", str(path), "alerts", "flush", timeout=90)
        assert flush.returncode == 0, flush.stderr[-2000:]
        wait_until("every alert to arrive", lambda: len(smtp.messages) >= expected, 60)
        wait_until("every alert marked sent", lambda: "pending" not in statuses(db), 30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        log.close()
        smtp.stop()
    per_id = Counter(str(m["Message-ID"]) for m in smtp.messages)
    assert len(per_id) == expected and set(per_id.values()) == {1}
    assert statuses(db) == ["sent"] * expected
    assert len(smtp.recorder.sessions) >= 2  # both really sent
    db.dispose()


def test_a_claim_is_the_senders_alone_until_its_lease_ends(db_url: str, tmp_path: Path) -> None:
    env = Env(tmp_path, None)
    env.raw["database"]["url"] = db_url
    env.config = config_from_dict(env.raw, str(env.path))
    env.db = open_db(env.config)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    db = env.db
    with db.write() as s:
        [alert] = due_alerts(s, NOW)
        assert claim_alert(s, alert.id, NOW, LEASE, NOW, "daemon")
    with db.write() as s:  # `alerts flush` asks for everything pending, whenever due
        assert not claim_alert(s, alert.id, NOW, LEASE, FAR, "flush")
    with db.read() as s:
        assert due_alerts(s, NOW, due_before=FAR) == []
    later = lease_clock(NOW) + LEASE  # leases run on the wall clock when `now` is earlier
    with db.write() as s:  # the daemon died; its lease is over, so the alert is taken again
        assert claim_alert(s, alert.id, later, LEASE, FAR, "flush")
    with db.write() as s:  # the late daemon's failure must not reschedule the flush's send
        mark_retry(s, alert.id, "late", later + backoff(1), "daemon")
    with db.read() as s:
        row = s.get(AlertRow, alert.id)
        assert row and row.claimed_by == "flush" and row.attempts == 0
    with db.write() as s:
        mark_sent(s, alert.id, later)
    with db.read() as s:
        row = s.get(AlertRow, alert.id)
        assert row and (row.status, row.claimed_until, row.claimed_by) == ("sent", None, None)
    db.dispose()


def test_a_long_round_keeps_its_claims(db_url: str, tmp_path: Path) -> None:
    """A round that began more than a lease ago still holds what it claims now, so an
    `alerts flush` started meanwhile cannot take the alert it is about to send."""
    env = Env(tmp_path, None)
    env.raw["database"]["url"] = db_url
    env.config = config_from_dict(env.raw, str(env.path))
    env.db = open_db(env.config)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    round_began = datetime.now(UTC) - LEASE - timedelta(minutes=1)
    with env.db.write() as s:
        [alert] = due_alerts(s, round_began, due_before=FAR)
        assert claim_alert(s, alert.id, round_began, LEASE, FAR, "daemon")
    with env.db.write() as s:  # `alerts flush`, started just now
        assert not claim_alert(s, alert.id, datetime.now(UTC), LEASE, FAR, "flush")
    env.db.dispose()


def test_an_outbox_folder_that_cannot_be_written_keeps_alerts_pending(tmp_path: Path) -> None:
    env = Env(tmp_path, None)  # no SMTP: .eml files in tmp/outbox
    outbox = tmp_path / "outbox"
    outbox.write_text("a file where the folder should be")  # root ignores chmod; this not
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    report = env.flush()
    assert (report.sent, report.failed, report.retrying) == (0, 0, 4)
    assert statuses(env.db) == ["pending"] * 4
    result = env.cli("alerts", "flush")
    assert result.returncode == 1 and "stay queued" in result.stderr
    listing = env.cli("alerts", "list").stdout
    assert "cannot write to" in listing and str(outbox) in listing
    outbox.unlink()
    # `alerts flush` ran on the clock's time and put the retries after it: a day after the
    # later of the two (NOW + 1 day alone passed until the clock did, on 2026-11-27).
    later = max(NOW, datetime.now(UTC)) + timedelta(days=1)
    assert env.flush(later).sent == 4
    files = sorted(outbox.iterdir())
    assert len(files) == 4 and all(f.suffix == ".eml" for f in files)
    assert env.flush(later + timedelta(days=1)).sent == 0 and len(list(outbox.iterdir())) == 4


def test_revision_0006_upgrades_alerts_in_place(db_url: str) -> None:
    engine = make_engine(db_url)
    at = "'2026-11-26 08:00:00'"
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outlets (id, name, country, language) "
                    "VALUES ('dawn', 'Dawn', 'PK', 'en')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO articles (id, url, url_key, outlet_id, title, text, date_source,"
                    " word_count, score, first_seen, simhash, sim_band0, sim_band1, sim_band2,"
                    f" sim_band3) VALUES (1, 'https://e.org/1', 'e.org/1', 'dawn', 'Grey list',"
                    f" 'FATF keeps Pakistan', 'page', 3, 2.0, {at}, 7, 7, 0, 0, 0)"
                )
            )
            for who, status in [("a", "pending"), ("b", "sent"), ("c", "failed")]:
                conn.execute(
                    text(
                        "INSERT INTO alerts (article_id, story_id, subscription, status, attempts,"
                        f" next_attempt_at, created_at) VALUES (1, 1, '{who}@e.org', '{status}', 2,"
                        f" {at}, {at})"
                    )
                )
        upgrade(engine)
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT subscription, status, attempts, claimed_until, claimed_by FROM alerts"
                    " ORDER BY subscription"
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                ("a@e.org", "pending", 2, None, None),
                ("b@e.org", "sent", 2, None, None),
                ("c@e.org", "failed", 2, None, None),
            ]
            # the search triggers of 0002 still index articles
            assert conn.execute(text("SELECT count(*) FROM articles")).scalar_one() == 1
        try:  # the CHECK of 0004 is still there
            with engine.begin() as conn:
                conn.execute(text("UPDATE alerts SET status = 'bounced'"))
            raise AssertionError("the status CHECK constraint was lost")
        except IntegrityError:
            pass
        upgrade_to = "0005"
        from alembic import command

        from storage.migrate import alembic_config

        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, upgrade_to)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM alerts")).scalar_one() == 3
    finally:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
