"""Apprise channels (`notify = [...]`) through the durable outbox, against a local webhook.

Every URL here points at 127.0.0.1: Apprise never reaches the internet in these tests.
"""

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.channels import notify
from alerts.delivery import backoff, deliver_pending
from alerts.errors import PermanentDeliveryError, TemporaryDeliveryError
from alerts.rules import RuleSet
from crawler.config import Config, config_from_dict
from crawler.config.errors import ConfigError
from storage.models import AlertRow
from storage.outbox import channel_key
from tests.articles import open_db, store
from tests.conftest import CISMOA_OPED, write_config
from tests.smtp import SmtpServer, free_port
from tests.webhook import Webhook

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FATF = (
    "Pakistan left the FATF grey list in 2022. The Financial Action Task Force will review "
    "progress again next year, and the grey list remains a threat to banks. "
) * 3


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup but 127.0.0.1's fails the test: Apprise must not reach the internet."""
    lookup = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert host in ("127.0.0.1", b"127.0.0.1"), f"a test tried to reach {host!r}"
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def setup(tmp: Path, smtp_port: int, subscriptions: list[dict[str, Any]], db_url: str) -> Any:
    raw = {
        "database": {"url": db_url},
        "email": {
            "from": "alerts@mediawatch.test",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_timeout": "5s",
        },
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/feed"]}],
        "subscriptions": subscriptions,
    }
    path = write_config(tmp / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    return config, open_db(config)


def flush(config: Config, db: Any, now: datetime = NOW) -> Any:
    return deliver_pending(config, db, RuleSet(config.topics), now)


def alerts(db: Any) -> list[AlertRow]:
    with db.read() as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def test_webhook_fails_then_succeeds_exactly_one_delivery(
    tmp_path: Path, smtp: SmtpServer, webhook: Webhook, db_url: str
) -> None:
    webhook.codes = [500]
    subs = [{"email": "desk@example.org", "notify": [webhook.url()], "topics": ["cismoa"]}]
    config, db = setup(tmp_path, smtp.port, subs, db_url)
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA_OPED, NOW)
    rows = alerts(db)
    assert [(a.subscription, a.channel) for a in rows] == [
        ("desk@example.org", "email"),
        ("desk@example.org", channel_key(webhook.url())),
    ]
    first = flush(config, db)
    assert (first.sent, first.retrying) == (1, 1)  # the email went; the webhook answered 500
    assert len(smtp.messages) == 1 and len(webhook.requests) == 1
    pending = [a for a in alerts(db) if a.status == "pending"]
    assert len(pending) == 1 and "error=500" in (pending[0].last_error or "")
    assert flush(config, db).sent == 0  # not due yet: the email backoff applies
    assert flush(config, db, NOW + backoff(2)).sent == 1
    assert flush(config, db, NOW + backoff(6)).sent == 0
    assert len(webhook.delivered) == 1 and len(smtp.messages) == 1
    body = webhook.delivered[0]
    assert body["title"].startswith("[mediawatch] ") and "Renewing CISMOA" in body["title"]
    assert "Renewing CISMOA" in body["message"] and "https://dawn.example/cismoa" in body["message"]
    assert {a.status for a in alerts(db)} == {"sent"}
    db.dispose()


def test_a_dead_webhook_does_not_hold_up_email_or_other_channels(
    tmp_path: Path, smtp: SmtpServer, webhook: Webhook
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/nobody-listens"
    subs = [
        {"email": "desk@example.org", "notify": [dead]},
        {"notify": [webhook.url("team")]},  # no email at all
    ]
    config, db = setup(tmp_path, smtp.port, subs, f"sqlite:///{tmp_path / 'mw.db'}")
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA_OPED, NOW)
    store(db, config, "dawn", "dawn.example/fatf", "After the grey list", FATF, NOW)
    assert len(alerts(db)) == 6  # 2 stories x (desk's email, desk's webhook, team's webhook)
    report = flush(config, db)
    # Email and the live webhook went on; the dead one was tried once, the rest rescheduled.
    assert (report.sent, report.retrying) == (4, 2)
    assert len(smtp.messages) == 2 and len(webhook.delivered) == 2
    dead_rows = [a for a in alerts(db) if a.channel == channel_key(dead)]
    assert [a.status for a in dead_rows] == ["pending", "pending"]
    assert dead_rows[0].last_error.startswith("JSON (json://): A Connection error")
    assert dead_rows[1].last_error.startswith("not tried this round: JSON (json://)")
    team = [a for a in alerts(db) if a.channel == channel_key(webhook.url("team"))]
    assert {a.subscription for a in team} == {config.subscriptions[1].key}
    assert team[0].subscription.startswith("notify:") and "127.0.0.1" not in team[0].subscription
    db.dispose()


def test_gone_webhook_fails_for_good_and_removed_url_fails(
    tmp_path: Path, smtp: SmtpServer, webhook: Webhook
) -> None:
    webhook.codes = [404]
    subs = [{"notify": [webhook.url(), webhook.url("other")]}]
    config, db = setup(tmp_path, smtp.port, subs, f"sqlite:///{tmp_path / 'mw.db'}")
    store(db, config, "dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA_OPED, NOW)
    report = flush(config, db)
    assert (report.sent, report.failed) == (1, 1)
    failed = next(a for a in alerts(db) if a.status == "failed")
    assert "error=404" in (failed.last_error or "") and "does not exist" in failed.last_error
    assert flush(config, db, NOW + backoff(8)).sent == 0 and len(webhook.requests) == 2
    # The second URL dropped from the configuration: its pending alerts fail with the reason.
    store(db, config, "dawn", "dawn.example/fatf", "After the grey list", FATF, NOW)
    fewer = config.model_copy(
        update={
            "subscriptions": [
                config.subscriptions[0].model_copy(update={"notify": [webhook.url()]})
            ]
        }
    )
    report = flush(fewer, db)
    assert (report.sent, report.failed) == (1, 1)
    assert any("notify URL no longer" in (a.last_error or "") for a in alerts(db))
    db.dispose()


def test_notify_urls_are_checked_at_load_and_never_printed() -> None:
    def error(subscription: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as caught:
            config_from_dict({"subscriptions": [{"email": "a@b.c"}, subscription]}, "m.toml")
        return str(caught.value)

    secret = "T0KENa/B0KENb/s3cr3tXYZ"
    message = error({"notify": ["json://127.0.0.1/x", f"slack://{secret[:6]}"]})
    assert "subscriptions[1].notify[1]: this slack:// URL is incomplete" in message
    assert "T0KEN" not in message
    message = error({"notify": [f"nosuchservice://{secret}"]})
    assert "subscriptions[1].notify[0]: nosuchservice:// is not a service Apprise knows" in message
    assert secret not in message and "s3cr3t" not in message
    assert "not an Apprise URL" in error({"notify": [f"just-a-{secret}"]})
    assert 'needs "email", "notify"' in error({"topics": ["fatf"]})
    assert "digests are emails" in error(
        {"notify": ["json://127.0.0.1/x"], "digest": "daily@07:00"}
    )
    config = config_from_dict({"subscriptions": [{"notify": ["json://127.0.0.1/x"]}]}, "m.toml")
    sub = config.subscriptions[0]
    assert sub.digest == "off" and sub.key == channel_key("json://127.0.0.1/x")
    assert "127.0.0.1" not in sub.key


def test_notify_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MW_TEST_HOOK", "json://127.0.0.1:9/hook")
    config = config_from_dict({"subscriptions": [{"notify": ["${MW_TEST_HOOK}"]}]}, "m.toml")
    assert config.subscriptions[0].notify == ["json://127.0.0.1:9/hook"]
    monkeypatch.delenv("MW_TEST_HOOK")
    with pytest.raises(ConfigError, match=r"notify\[0\]: \$\{MW_TEST_HOOK\} is not set"):
        config_from_dict({"subscriptions": [{"notify": ["${MW_TEST_HOOK}"]}]}, "m.toml")


def test_notify_maps_apprise_failures(webhook: Webhook) -> None:
    webhook.codes = [503, 410]
    with pytest.raises(TemporaryDeliveryError, match="error=503"):
        notify(webhook.url(), "t", "b")
    with pytest.raises(PermanentDeliveryError, match="error=410"):
        notify(webhook.url(), "t", "b")
    assert "JSON" in notify(webhook.url(), "title <&>", "body")
    assert webhook.delivered[-1]["title"] == "title <&>"
    with pytest.raises(PermanentDeliveryError, match="unsupported or malformed"):
        notify("nosuchservice://secret@127.0.0.1/", "t", "b")
