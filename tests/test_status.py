"""`mediawatch status`: the daemon's heartbeat read as a person reads a time (the display zone,
to the second) in the text, and left exact in the JSON."""

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from crawler.service.health import HEARTBEAT_KEY
from storage.articles import OutletInfo, sync_outlets
from storage.db import open_database
from storage.runs import finish_run, start_run
from storage.state import set_state
from storage.statuses import CrawlStatus
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


def test_last_crawl_in_the_display_zone(tmp_path: Path) -> None:
    """LAST CRAWL reads as the heartbeat does: in the display zone, which names itself (here
    the crawl began on the 26th in UTC and on the 27th in Karachi)."""
    config, url = _config(tmp_path)
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    raw["outlets"] = [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/feed"]}]
    write_config(config, raw)
    began = datetime(2026, 11, 26, 20, 10, tzinfo=UTC)
    with open_database(url) as db, db.write() as session:
        sync_outlets(session, [OutletInfo("dawn", "Dawn", "PK", "en")])
        run = start_run(session, "dawn", began)
        finish_run(
            session,
            run,
            finished_at=began,
            status=CrawlStatus.OK,
            pages_fetched=3,
            items_discovered=5,
            new_articles=2,
            error_kinds={},
            error_samples=[],
        )
    said = run_cli("--config", str(config), "status")
    assert said.returncode == 0, said.stderr
    row = next(line for line in said.stdout.splitlines() if line.startswith("dawn "))
    assert "2026-11-27 01:10 Asia/Karachi" in row
    assert "UTC" not in said.stdout
    header = said.stdout.splitlines()[0]
    assert row[header.index("RESULT") :].startswith("ok ")  # the wider column stays aligned
    report = cli_json("--config", str(config), "status", "--format", "json")
    assert report["outlets"][0]["last_crawl"].startswith("2026-11-26T20:10:00")


def test_workers_last_seen_in_the_display_zone() -> None:
    from crawler.service.status import _queue_lines

    worker = {"host": "crawl-01", "pid": 41, "last_seen": "2026-11-26T21:14:02+00:00"}
    worker |= {"current_job": None, "jobs_done": 3, "jobs_failed": 0}
    q = {"url": "redis://h:6379/0", "queued": 0, "workers": 1, "worker_details": [worker]}
    assert _queue_lines(q, ZoneInfo("Asia/Karachi"))[1] == (
        "  worker crawl-01 pid 41: idle, last seen 2026-11-27 02:14:02 Asia/Karachi, "
        "3 jobs done, 0 failed"
    )
    worker["last_seen"] = None
    assert "last seen never, " in _queue_lines(q, ZoneInfo("Asia/Karachi"))[1]
