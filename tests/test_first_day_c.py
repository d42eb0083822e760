"""Issue 14, points 9 (search) and 10 (failed alerts), as a user meets them on the CLI."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.models import AlertRow
from tests.conftest import cli_json
from tests.smtp import SmtpServer
from tests.test_alerts import CISMOA, FATF, NOW, Env

REFUSAL = "550 5.1.1 <fatf@example.org>: mailbox unknown"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_failed_alert_is_listed_readably_and_can_be_retried(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    env = Env(tmp_path, smtp.port)
    smtp.recorder.refuse["fatf@example.org"] = REFUSAL
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    assert env.flush().failed == 1

    listing = env.cli("alerts", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATUS",
        "SUBSCRIPTION",
        "CHANNEL",
        "TRIES",
        "WHEN",
        "(UTC)",
        "TITLE",
    ]
    row = next(line for line in lines if " failed " in line)
    assert " email " in row and "failed 2026-11-26 08:00" in row and "next try" not in row
    error = next(line for line in lines if "last error:" in line)
    assert error.rstrip().endswith(REFUSAL)  # the server's answer, not smtplib's dict

    shown = cli_json("--config", str(env.path), "alerts", "list", "--format", "json")
    assert shown[0]["failed_at"].startswith("2026-11-26T08:00")
    assert shown[0]["next_attempt_at"] is None

    # An error recorded by an older release, as Python's repr of smtplib's dict.
    with env.db.write() as session:
        session.execute(
            update(AlertRow).values(
                last_error="{'fatf@example.org': (550, b'5.1.1 <fatf@example.org>: mailbox "
                "unknown\\nContact postmaster')}"
            )
        )
    old = env.cli("alerts", "list").stdout
    assert "last error: 550 5.1.1 <fatf@example.org>: mailbox unknown Contact postmaster" in old

    # The address is fixed: retry puts it back, due now, and the next delivery sends it.
    smtp.recorder.refuse.clear()
    nothing = env.cli("alerts", "retry")
    assert nothing.returncode == 2 and "--failed" in nothing.stderr
    missing = env.cli("alerts", "retry", "999")
    assert missing.returncode == 1 and "no alert #999" in missing.stderr
    retried = env.cli("alerts", "retry", "--failed")
    assert retried.returncode == 0, retried.stderr
    assert "1 alerts queued again (#1)" in retried.stdout
    pending = env.cli("alerts", "list", "--status", "pending").stdout
    row = next(line for line in pending.splitlines() if " pending " in line)
    assert "due now" in row
    assert env.cli("alerts", "flush").returncode == 0
    assert [m["To"] for m in smtp.messages] == ["fatf@example.org"]
    again = env.cli("alerts", "retry", "1")
    assert "#1 is sent, not failed" in again.stderr and "0 alerts queued again" in again.stdout


@pytest.fixture
def archive(tmp_path: Path) -> Env:
    env = Env(tmp_path, None)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    env.store("hindu", "hindu.example/fatf", "After the grey list", FATF, NOW)
    env.store(
        "dawn", "dawn.example/cricket", "FATF and cricket", FATF + " The cricket season.", NOW
    )
    return env


def search(env: Env, *args: str) -> list[dict[str, object]]:
    return list(cli_json("--config", str(env.path), "search", "--format", "json", *args))


def test_search_query_may_start_with_a_minus(archive: Env) -> None:
    titles = {r["title"] for r in search(archive, "-cricket FATF", "--since", "3650d")}
    assert titles == {"Renewing CISMOA", "After the grey list"}
    assert {r["title"] for r in search(archive, "--", "-cricket FATF")} == titles
    alone = archive.cli("search", "-cricket")  # the query language's own message, not click's
    assert alone.returncode == 2 and "not excluded" in alone.stderr
    assert "No such option" not in alone.stderr
    # a value that starts with `-` still belongs to its option
    assert len(search(archive, "--min-score", "-1")) == 3
    typo = archive.cli("search", "--topc", "fatf")
    assert typo.returncode == 2 and "--topc" in typo.stderr


def test_lowercase_operator_hint_when_nothing_found(archive: Env) -> None:
    nothing = archive.cli("search", "cismoa or nosuchword")
    assert nothing.returncode == 0 and "no articles found" in nothing.stdout
    assert nothing.stderr.strip().splitlines() == [
        "hint: lowercase 'or' is searched as a word; write OR for the operator (e.g. fatf OR cpec)"
    ]
    found = archive.cli("search", "cismoa OR nosuchword")
    assert "Renewing CISMOA" in found.stdout and "hint" not in found.stderr


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        (["search", "--topic", "cpec"], "cismoa, fatf, ttp"),
        (["search", "--outlet", "nosuch"], "dawn, hindu"),
        (["search", "--language", "urdu"], "en"),
        (["outlets", "list", "--country", "XX"], "IN, PK"),
    ],
)
def test_unknown_filter_values_are_usage_errors(archive: Env, args: list[str], valid: str) -> None:
    result = archive.cli(*args)
    assert result.returncode == 2, result.stdout
    assert f"use one of: {valid}" in result.stderr and "Traceback" not in result.stderr


def test_filters_and_table(archive: Env) -> None:
    assert len(search(archive, "--outlet", "dawn")) == 2
    assert archive.cli("search", "--language", "EN").returncode == 0  # case does not matter
    lower = archive.cli("outlets", "list", "--country", "pk")
    assert lower.returncode == 0 and "dawn" in lower.stdout and "hindu" not in lower.stdout
    inverted = archive.cli("search", "--since", "2026-11-20", "--until", "2026-11-01")
    assert inverted.returncode == 2 and "swap them" in inverted.stderr
    bom = archive.cli("search", "--bom")
    assert bom.returncode == 2 and "--format csv" in bom.stderr
    csv = archive.cli("search", "--bom", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("\ufeff")
    table = archive.cli("search", "CISMOA").stdout.splitlines()
    row = next(line for line in table if "Renewing CISMOA" in line)
    topics = row.split()[4]  # ID OUTLET PUBLISHED SCORE TOPICS
    *ids, more = topics.split(",")  # whole ids, then how many more: never `cismoa,fatf,`
    assert ids == ["cismoa"] and more in ("+1", "+2"), row


def test_an_alert_another_sender_holds_is_listed_as_being_sent(tmp_path: Path) -> None:
    """It read "pending · due now" while the daemon (or a dead sender's lease) held it, so
    `alerts flush` seemed to ignore a due alert."""
    from datetime import UTC, datetime, timedelta

    from storage.outbox import claim_alert

    env = Env(tmp_path, None)
    env.store("dawn", "dawn.example/cismoa", "Renewing CISMOA", CISMOA, NOW)
    now = datetime.now(UTC)
    with env.db.write() as session:
        assert claim_alert(session, 1, now, timedelta(minutes=10), now, "daemon:1")
    listing = env.cli("alerts", "list", "--status", "pending")
    assert listing.returncode == 0, listing.stderr
    held = next(line for line in listing.stdout.splitlines() if line.lstrip().startswith("1 "))
    assert "being sent (to " in held and "due now" not in held
    others = [line for line in listing.stdout.splitlines()[1:] if " pending " in line]
    assert any("due now" in line for line in others if line is not held)
    shown = {
        a["id"]: a
        for a in cli_json("--config", str(env.path), "alerts", "list", "--format", "json")
    }
    assert shown[1]["claimed_until"] is not None and shown[2]["claimed_until"] is None
