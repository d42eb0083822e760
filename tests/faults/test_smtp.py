"""SMTP faults against a real server in the test process: nothing lost, nothing sent twice.

A fault of the server, the connection or our settings keeps every alert pending (each
with a next try) and none failed; once the server is fixed each alert arrives exactly once.
Only a recipient-level 5xx fails an alert, and only that one.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.delivery import backoff
from crawler.config import config_from_dict
from storage.models import AlertRow
from tests.smtp import Greeter, SmtpServer, free_port
from tests.test_alerts import CISMOA, FATF, NOW, Env

ALERTS = 4  # the op-ed to desk@, fatf@ and ops@; the FATF piece to fatf@


class Broken:
    """A mail server broken one way, on a port that stays the same when it is fixed."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.server: SmtpServer | None = None
        self.greeter: Greeter | None = None
        if how == "down":
            self.port = free_port()
        elif how in ("421 on connect", "silent greeting"):
            line = "421 4.3.2 Service not available" if how == "421 on connect" else None
            self.greeter = Greeter(line)
            self.port = self.greeter.port
        else:
            self.server = SmtpServer(password="right" if how == "5xx on AUTH" else None).start()
            self.port = self.server.port
            recorder = self.server.recorder
            if how == "slow":
                recorder.delay = 3  # the client gives up after smtp_timeout = 1s
            elif how == "451 on RCPT":
                recorder.replies["RCPT"] = "451 4.3.0 Mailbox busy, try later"
            elif how == "5xx on MAIL FROM":
                recorder.replies["MAIL"] = "553 5.7.1 Sender address rejected: not owned by you"
            elif how == "5xx on HELO":
                recorder.replies["EHLO"] = recorder.replies["HELO"] = "554 5.7.1 Go away"

    def fix(self, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
        if self.greeter is not None:
            self.greeter.stop()
        if self.server is None:
            self.server = SmtpServer(self.port).start()
        recorder = self.server.recorder
        recorder.delay, recorder.replies = 0, {}
        monkeypatch.setenv("MEDIAWATCH_SMTP_PASSWORD", "right")
        return self.server

    def stop(self) -> None:
        if self.greeter is not None:
            self.greeter.stop()
        if self.server is not None:
            self.server.stop()


def env_for(tmp: Path, port: int, **email: str) -> Env:
    env = Env(tmp, port)
    env.raw["email"] |= {"smtp_timeout": "1s", **email}
    env.config = config_from_dict(env.raw, str(env.path))
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    return env


def alerts(env: Env) -> list[AlertRow]:
    with env.db.read() as s:
        return list(s.query(AlertRow).order_by(AlertRow.id))


def once_each(server: SmtpServer) -> bool:
    ids = Counter(str(m["Message-ID"]) for m in server.messages)
    return len(ids) == ALERTS and set(ids.values()) == {1}


@pytest.fixture
def broken(request: pytest.FixtureRequest) -> Iterator[Broken]:
    b = Broken(request.param)
    yield b
    b.stop()


@pytest.mark.parametrize(
    "broken",
    [
        "down",
        "slow",
        "silent greeting",
        "421 on connect",
        "5xx on HELO",
        "5xx on AUTH",
        "5xx on MAIL FROM",
        "451 on RCPT",
    ],
    indirect=True,
)
def test_a_server_fault_keeps_every_alert_pending_then_sends_each_once(
    tmp_path: Path, broken: Broken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIAWATCH_SMTP_PASSWORD", "wrong")
    env = env_for(tmp_path, broken.port, smtp_user="mediawatch" if "AUTH" in broken.how else "")
    report = env.flush()
    assert (report.sent, report.failed, report.retrying) == (0, 0, ALERTS)
    rows = alerts(env)
    assert [a.status for a in rows] == ["pending"] * ALERTS
    assert all(a.next_attempt_at > NOW and a.last_error and a.claimed_by is None for a in rows)
    if broken.how == "5xx on MAIL FROM":
        assert all(
            "553" in (a.last_error or "") and "[email] from" in (a.last_error or "") for a in rows
        )
    server = broken.fix(monkeypatch)
    assert env.flush(NOW + backoff(2)).sent == ALERTS
    assert env.flush(NOW + timedelta(days=1)).sent == 0
    assert once_each(server)
    assert [a.status for a in alerts(env)] == ["sent"] * ALERTS


def test_a_recipient_refusal_fails_that_alert_only(tmp_path: Path) -> None:
    server = SmtpServer().start()
    try:
        server.recorder.refuse["ops@example.org"] = "550 5.1.1 <ops@example.org>: no such user"
        server.recorder.refuse_data["desk@example.org"] = "554 5.6.0 Message rejected as spam"
        env = env_for(tmp_path, server.port)
        report = env.flush()
        assert (report.sent, report.failed, report.retrying) == (2, 2, 0)
        by_to = {a.subscription: a for a in alerts(env) if a.subscription != "fatf@example.org"}
        assert by_to["ops@example.org"].status == "failed"
        assert "550" in (by_to["ops@example.org"].last_error or "")
        assert by_to["desk@example.org"].status == "failed"
        assert "554" in (by_to["desk@example.org"].last_error or "")
        assert sorted(str(m["To"]) for m in server.messages) == ["fatf@example.org"] * 2
        server.recorder.refuse, server.recorder.refuse_data = {}, {}
        assert env.flush(NOW + timedelta(days=1)).sent == 0  # failed is for good
        assert len(server.messages) == 2
    finally:
        server.stop()


def test_a_fault_mid_round_keeps_the_rest_pending(tmp_path: Path) -> None:
    """The server takes two emails, then refuses the sender: the two stay sent, the rest wait."""
    server = SmtpServer().start()
    taken: list[int] = []
    recorder = server.recorder
    accept: Callable[..., object] = recorder.handle_DATA

    async def data_then_refuse(*args: object) -> str:
        result = await accept(*args)  # type: ignore[misc]
        taken.append(1)
        if len(taken) == 2:
            recorder.replies["MAIL"] = "421 4.7.0 Too many messages, closing"
        return str(result)

    recorder.handle_DATA = data_then_refuse  # type: ignore[method-assign]
    try:
        env = env_for(tmp_path, server.port)
        report = env.flush()
        assert (report.sent, report.failed, report.retrying) == (2, 0, ALERTS - 2)
        recorder.replies = {}
        assert env.flush(NOW + backoff(2)).sent == ALERTS - 2
        assert once_each(server)
    finally:
        server.stop()


def test_a_sender_refusal_keeps_digests_pending_then_sends_each_once(tmp_path: Path) -> None:
    from alerts.digest import send_digests
    from alerts.rules import RuleSet
    from tests.test_digest import NOW as DIGEST_TIME
    from tests.test_digest import setup

    server = SmtpServer().start()
    try:
        server.recorder.replies["MAIL"] = "550 5.7.1 Sender not allowed"
        second = {"email": "ops@example.org", "digest": "daily@07:00", "timezone": "Asia/Karachi"}
        config, db = setup(tmp_path, server.port, [second])
        rules = RuleSet(config.topics)
        outcomes = send_digests(config, db, rules, DIGEST_TIME)
        assert [o.status for o in outcomes] == ["retrying", "retrying"]  # none failed
        server.recorder.replies = {}
        again = send_digests(config, db, rules, DIGEST_TIME + timedelta(minutes=1))
        assert [o.status for o in again] == ["sent", "sent"]
        later = send_digests(config, db, rules, DIGEST_TIME + timedelta(minutes=2))
        assert [o.status for o in later] == ["already sent", "already sent"]
        ids = Counter(str(m["Message-ID"]) for m in server.messages)
        assert len(ids) == 2 and set(ids.values()) == {1}
    finally:
        server.stop()
