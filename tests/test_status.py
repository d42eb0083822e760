"""`mediawatch status`: the daemon's heartbeat read as a person reads a time (the display zone,
to the second) in the text, and left exact in the JSON."""

from datetime import UTC, datetime
from pathlib import Path

from crawler.service.health import HEARTBEAT_KEY
from storage.db import open_database
from storage.state import set_state
from tests.conftest import cli_json, create_database, run_cli, write_config

BEAT = datetime(2026, 11, 26, 14, 30, 5, 622533, tzinfo=UTC)  # 19:30:05 in Karachi


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'mw.db'}"
    raw = {
        "database": {"url": url},
        "catalogue": {"include": []},
        "web": {"token": "", "timezone": "Asia/Karachi"},
    }
    create_database(url)
    return write_config(tmp_path / "mediawatch.toml", raw), url


def test_heartbeat_in_the_display_zone_to_the_second(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    said = run_cli("--config", str(config), "status")
    assert said.returncode == 0, said.stderr
    assert "daemon heartbeat: never (mediawatch run has not run)" in said.stdout
    with open_database(url) as db, db.write() as session:
        set_state(session, HEARTBEAT_KEY, BEAT.isoformat(), BEAT)
    said = run_cli("--config", str(config), "status")
    assert said.returncode == 0, said.stderr
    assert "daemon heartbeat: 2026-11-26 19:30:05 Asia/Karachi\n" in said.stdout
    report = cli_json("--config", str(config), "status", "--format", "json")
    assert report["daemon_heartbeat"] == "2026-11-26T14:30:05.622533+00:00"
