"""`mediawatch alerts test`: one test message, each step printed with the fix for a failure."""

import socket
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, write_config
from tests.smtp import SmtpServer, refused_port
from tests.webhook import Webhook


def config(tmp: Path, email: dict[str, Any], subscriptions: list[dict[str, Any]]) -> Path:
    raw = {
        "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
        "email": {"from": "alerts@mediawatch.test", "outbox_dir": str(tmp / "outbox"), **email},
        "catalogue": {"include": []},
        "subscriptions": subscriptions,
    }
    return write_config(tmp / "mediawatch.toml", raw)


def lines(output: str) -> list[list[str]]:
    return [line.split(None, 2) for line in output.splitlines() if line.startswith("  ")]


def test_login_refused_then_accepted(tmp_path: Path) -> None:
    server = SmtpServer(password="hunter2").start()
    try:
        path = config(
            tmp_path,
            {"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_user": "mediawatch"},
            [{"email": "desk@example.org"}],
        )
        wrong = run_cli(
            "--config", str(path), "alerts", "test", env={"MEDIAWATCH_SMTP_PASSWORD": "wrong"}
        )
        assert wrong.returncode == 1, wrong.stdout + wrong.stderr
        out = wrong.stdout
        assert f"Test email to desk@example.org through 127.0.0.1:{server.port}" in out
        steps = lines(out)
        assert [s[:2] for s in steps[:3]] == [
            ["connect", "ok"],
            ["STARTTLS", "skipped"],
            ["login", "FAILED"],
        ]
        assert steps[2][2].startswith("535")  # the server's own answer
        assert "fix: check [email] smtp_user and $MEDIAWATCH_SMTP_PASSWORD" in out
        assert "(user 'mediawatch'; the password is set)" in out
        assert "Not delivered: the login step failed." in out
        assert "not delivered" in wrong.stderr and "Traceback" not in wrong.stderr
        assert server.messages == []

        right = run_cli(
            "--config", str(path), "alerts", "test", env={"MEDIAWATCH_SMTP_PASSWORD": "hunter2"}
        )
        assert right.returncode == 0, right.stdout + right.stderr
        assert [s[:2] for s in lines(right.stdout)] == [
            ["connect", "ok"],
            ["STARTTLS", "skipped"],
            ["login", "ok"],
            ["sender", "ok"],
            ["recipient", "ok"],
            ["message", "ok"],
        ]
        assert "Delivered: the server took the message for desk@example.org." in right.stdout
        assert server.logins == ["mediawatch"] and len(server.messages) == 1
        msg = server.messages[0]
        assert msg["Subject"] == "[mediawatch] Test message" and msg["To"] == "desk@example.org"
    finally:
        server.stop()


def test_named_address_refused_and_nothing_listening(tmp_path: Path) -> None:
    server = SmtpServer().start()
    server.recorder.refuse["nobody@example.org"] = "550 5.1.1 <nobody@example.org>: unknown"
    try:
        path = config(
            tmp_path, {"smtp_host": "127.0.0.1", "smtp_port": server.port}, [{"email": "a@b.c"}]
        )
        result = run_cli("--config", str(path), "alerts", "test", "nobody@example.org")
        assert result.returncode == 1
        steps = lines(result.stdout)
        assert steps[-2][:2] == ["recipient", "FAILED"] and "5.1.1" in steps[-2][2]
        assert "login     skipped" in result.stdout
        assert "fix: the server will not deliver to this address" in result.stdout
    finally:
        server.stop()
    with refused_port() as port:
        smtp = {"smtp_host": "127.0.0.1", "smtp_port": port}
        path = config(tmp_path, smtp, [{"email": "a@b.c"}])
        result = run_cli("--config", str(path), "alerts", "test")
    assert result.returncode == 1
    assert lines(result.stdout)[0][:2] == ["connect", "FAILED"]
    assert f"fix: nothing accepts connections at 127.0.0.1:{port}" in result.stdout


def test_a_port_that_says_nothing_is_named_without_blaming_port_465(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never greets
    try:
        port = silent.getsockname()[1]
        path = config(
            tmp_path,
            {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout": "1s"},
            [{"email": "a@b.c"}],
        )
        result = run_cli("--config", str(path), "alerts", "test")
    finally:
        silent.close()
    assert result.returncode == 1 and lines(result.stdout)[0][:2] == ["connect", "FAILED"]
    assert f"fix: something at 127.0.0.1:{port} took the connection" in result.stdout
    assert "port 465" not in result.stdout and "check [email] smtp_port" in result.stdout


def test_no_smtp_writes_an_eml_file(tmp_path: Path) -> None:
    path = config(tmp_path, {}, [{"email": "desk@example.org"}])
    result = run_cli("--config", str(path), "alerts", "test")
    assert result.returncode == 0, result.stderr
    written = list((tmp_path / "outbox").glob("*.eml"))
    assert len(written) == 1 and b"[mediawatch] Test message" in written[0].read_bytes()
    assert f"wrote the test message to {written[0].resolve()}\n" in result.stdout
    neither = run_cli("--config", str(path), "alerts", "test", "desk")
    assert neither.returncode == 2 and "Traceback" not in neither.stderr
    assert "'desk' is neither an email address nor an Apprise URL: give one such as" in (
        neither.stderr
    )


def test_apprise_url_answer_and_failure(tmp_path: Path) -> None:
    hook = Webhook([500])
    try:
        url = hook.url("s3cr3t-token")
        path = config(tmp_path, {}, [{"notify": [url]}])
        failed = run_cli("--config", str(path), "alerts", "test")  # the first subscription's
        assert failed.returncode == 1
        assert "notify    FAILED  JSON (json://): Failed to send JSON POST" in failed.stdout
        assert "error=500" in failed.stdout and "fix: " in failed.stdout
        assert "s3cr3t" not in failed.stdout + failed.stderr
        ok = run_cli("--config", str(path), "alerts", "test", url)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "Delivered: JSON accepted the notification." in ok.stdout
        assert "s3cr3t" not in ok.stdout + ok.stderr
        assert [body["title"] for _, body in hook.requests] == ["[mediawatch] Test message"] * 2
        bad = run_cli("--config", str(path), "alerts", "test", "nosuchservice://s3cr3t@x")
        assert bad.returncode == 1 and "nosuchservice:// is not a service" in bad.stdout
        assert "s3cr3t" not in bad.stdout + bad.stderr
    finally:
        hook.stop()
