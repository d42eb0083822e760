"""Source health in normal operation: an outlet that turns blocked or stale is reported."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from crawler.config import config_from_dict
from crawler.service.health import OutletWatch
from spiders.outlets import Outlet
from storage.db import Database
from storage.runs import finish_run, start_run
from tests.articles import open_db, store

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def record(db: Database, outlet: str, new: int, kinds: dict[str, int], at: datetime) -> None:
    with db.write() as s:
        run = start_run(s, outlet, at)
        finish_run(
            s,
            run,
            finished_at=at,
            status="ok",
            pages_fetched=3,
            items_discovered=5,
            new_articles=new,
            error_kinds=kinds,
            error_samples=[],
        )


def watched(
    tmp_path: Path, outlet_id: str, alerts: dict[str, object], stored: bool = True
) -> tuple[Outlet, Database, OutletWatch]:
    """One outlet, its archive (one article stored unless not `stored`) and its watch."""
    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "email": {"outbox_dir": str(tmp_path / "outbox")},
            "catalogue": {"include": []},
            "alerts": alerts,
        },
        "(test)",
    )
    name = outlet_id.title()
    outlet = Outlet(id=outlet_id, name=name, feeds=[f"https://{outlet_id}.example/feed"])
    config = config.model_copy(update={"outlets": [outlet]})
    db = open_db(config)
    if stored:
        text = "Some text. " * 30
        store(db, config, outlet_id, f"{outlet_id}.example/1", "A column", text, NOW)
    return outlet, db, OutletWatch(config, db)


def test_operator_is_told_once_per_change(tmp_path: Path) -> None:
    alerts = {"operator": "ops@example.org", "unhealthy_after_runs": 3}
    outlet, db, watch = watched(tmp_path, "dawn", alerts)
    record(db, "dawn", 4, {}, NOW)
    assert watch.check(outlet, NOW) == "ok"
    for i in range(3):
        record(db, "dawn", 0, {}, NOW + timedelta(minutes=i + 1))
    assert watch.check(outlet, NOW + timedelta(minutes=4)) == "stale"
    assert watch.check(outlet, NOW + timedelta(minutes=5)) == "stale"  # no second email
    record(db, "dawn", 0, {"blocked": 2}, NOW + timedelta(minutes=6))
    assert watch.check(outlet, NOW + timedelta(minutes=7)) == "blocked"
    emails = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted((tmp_path / "outbox").glob("*.eml"))
    ]
    subjects = sorted(str(m["Subject"]) for m in emails)
    assert subjects == ["[mediawatch] outlet dawn is blocked", "[mediawatch] outlet dawn is stale"]
    assert all(m["To"] == "ops@example.org" for m in emails)
    record(db, "dawn", 2, {}, NOW + timedelta(minutes=8))
    assert watch.check(outlet, NOW + timedelta(minutes=9)) == "ok"


def test_an_outlet_that_never_stored_anything_and_meets_errors_is_failing(
    tmp_path: Path,
) -> None:
    """Its feed lists articles on a host it may not fetch: every one is refused. That used to
    read "ok" until unhealthy_after_runs runs had passed."""
    alerts = {"operator": "ops@example.org", "unhealthy_after_runs": 3}
    outlet, db, watch = watched(tmp_path, "gazette", alerts, stored=False)
    record(db, "gazette", 0, {"refused": 10}, NOW)
    assert watch.check(outlet, NOW) == "failing"
    [email] = [p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")]
    told = message_from_bytes(email, policy=policy.default)
    assert str(told["Subject"]) == "[mediawatch] outlet gazette is failing"
    record(db, "gazette", 0, {}, NOW + timedelta(minutes=1))  # a quiet run, no errors
    assert watch.check(outlet, NOW + timedelta(minutes=2)) == "ok"


def test_unhealthy_after_more_than_twenty_runs_still_turns_stale(tmp_path: Path) -> None:
    """Runs without news were counted over the latest 20 runs only: unhealthy_after_runs = 30
    never turned an outlet stale."""
    outlet, db, watch = watched(tmp_path, "dawn", {"unhealthy_after_runs": 30})
    record(db, "dawn", 1, {}, NOW)
    for i in range(29):
        record(db, "dawn", 0, {}, NOW + timedelta(minutes=i + 1))
    assert watch.check(outlet, NOW + timedelta(hours=1)) == "ok"
    record(db, "dawn", 0, {}, NOW + timedelta(minutes=30))
    assert watch.check(outlet, NOW + timedelta(hours=1)) == "stale"
