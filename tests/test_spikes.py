"""Spike alerts: the rule as a pure function, and a scenario over synthetic history with an
injected `now` (a quiet day, the spike alerted once by real SMTP, not again the same day),
`mediawatch spikes` listing it, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.delivery import deliver_pending
from alerts.rules import RuleSet
from alerts.spike_watch import check_spikes, spike_zones
from alerts.spikes import daily_counts, detect_spikes, is_spike, poisson_tail
from crawler.config import config_from_dict
from tests.conftest import cli_json, run_cli, write_config
from tests.smtp import SmtpServer
from tests.test_trends import OUTLETS, TOPICS, Archive

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5 all year
D = datetime.now(UTC).date() - timedelta(days=2)  # the spike day, in Karachi


def karachi(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=KARACHI)


def test_the_rule() -> None:
    assert poisson_tail(0, 3.0) == 1.0 and poisson_tail(3, 0.0) == 0.0
    assert abs(poisson_tail(3, 1.0) - 0.0803014) < 1e-6  # 1 - e^-1 (1 + 1 + 1/2)
    # the least count that is a spike, for a few baselines (as the README says)
    least = {m: next(k for k in range(200) if is_spike(k, m)) for m in (0.0, 1.0, 5.0, 20.0)}
    assert least == {0.0: 3, 1.0: 6, 5.0: 14, 20.0: 36}
    assert poisson_tail(1000, 900.0) < 0.001 < poisson_tail(960, 900.0)  # no overflow
    day = date(2026, 11, 20)
    history = {"ttp": {day - timedelta(days=i): 1 for i in range(1, 15)} | {day: 6}}
    assert [s.topic for s in detect_spikes(history, ["ttp", "fatf"], day, date(2026, 1, 1))] == [
        "ttp"
    ]
    # an archive younger than the 14 days judges nothing: its empty days are not quiet ones
    assert detect_spikes(history, ["ttp"], day, day - timedelta(days=13)) == []
    assert detect_spikes({"ttp": {day: 3}}, ["ttp"], day, None) == []
    assert detect_spikes({"ttp": {day: 3}}, ["ttp"], day, day - timedelta(days=30))[0].stories == 3


def test_days_are_counted_in_the_zone() -> None:
    late = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # 01:00 on the 21st in Karachi
    rows = [("ttp", 1, late), ("ttp", 1, late), ("ttp", 2, late - timedelta(hours=10))]
    assert daily_counts(rows, "UTC") == {"ttp": {date(2026, 11, 20): 2}}
    assert daily_counts(rows, "Asia/Karachi") == {
        "ttp": {date(2026, 11, 21): 1, date(2026, 11, 20): 1}
    }


def test_spike_alerted_once_not_on_the_quiet_day_before(tmp_path: Path, db_url: str) -> None:
    smtp = SmtpServer().start()
    try:
        _scenario(tmp_path, db_url, smtp)
    finally:
        smtp.stop()


def _scenario(tmp_path: Path, db_url: str, smtp: SmtpServer) -> None:
    quiet = {"immediate": False, "digest": "off", "timezone": "Asia/Karachi"}
    raw = {
        "database": {"url": db_url},
        "catalogue": {"include": []},
        "outlets": [{**o, "feeds": [f"https://{o['id']}.example/feed"]} for o in OUTLETS],
        "topics": TOPICS,
        "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "from": "mw@example.org"},
        "subscriptions": [
            {"email": "Desk@example.org", "topics": ["ttp"], "spikes": True, **quiet},
            {"email": "all@example.org", **quiet},  # spikes not asked for
            {"email": "fatf@example.org", "topics": ["fatf"], "spikes": True, **quiet},
        ],
    }
    path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    assert spike_zones(config.subscriptions) == ["Asia/Karachi"]
    archive = Archive(config)
    # 15 days of one TTP story a day, then a busier day (3) just before the spike day
    for k in range(2, 16):
        archive.story(["ttp"], [("dawn", karachi(D - timedelta(days=k), 12))])
    for i in range(3):
        archive.story(["ttp"], [("jang", karachi(D - timedelta(days=1), 9 + i))])
    # the spike day: six stories, one syndicated (counts once), one hostile title, and one
    # published at 01:00 Karachi time (the day before in UTC)
    archive.story(["ttp"], [("dawn", karachi(D, 1))], title="Late-night TTP statement")
    archive.story(
        ["ttp"],
        [("dawn", karachi(D, 12)), ("tribune", karachi(D, 13))],
        title="TTP talks collapse",
    )
    archive.story(["ttp"], [("hindu", karachi(D, 12))], title="<script>alert(1)</script> TTP")
    for i in range(4):
        archive.story(["ttp", "fatf"][: 1 + (i == 0)], [("jang", karachi(D, 8 + i))])
    db, rules = archive.db, RuleSet(config.topics)
    subs, topics = config.subscriptions, [t.id for t in config.topics]

    # the quiet day before: 3 stories against a baseline of 1 a day is no spike
    assert check_spikes(subs, topics, db, karachi(D - timedelta(days=1), 18)) == []
    # the spike day in the afternoon: 7 stories against 16/14 a day
    found = check_spikes(subs, topics, db, karachi(D, 15))
    assert [(s.topic, s.day, s.zone, s.stories, s.queued) for s in found] == [
        ("ttp", D.isoformat(), "Asia/Karachi", 7, 1)
    ]
    assert abs(found[0].baseline - 16 / 14) < 1e-9
    assert deliver_pending(config, db, rules, karachi(D, 15)).sent == 1
    [msg] = smtp.messages
    assert str(msg["To"]).lower() == "desk@example.org"
    assert msg["Subject"] == "[mediawatch] Spike: Tehreek-e-Taliban Pakistan: 7 stories"
    assert msg["X-Mediawatch-Spike"] == f"ttp {D.isoformat()}"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "7 stories on" in text and "1.1 a day" in text and "TTP talks collapse" in text
    assert "Dawn and 1 more" in text  # the syndicated story, with its copy
    assert '<a href="https://dawn.example/' in html and "TTP talks collapse</a>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; TTP" in html and "<script>" not in html

    # later the same day, two more stories: the record keeps the highest count, no new email
    for i in range(2):
        archive.story(["ttp"], [("dawn", karachi(D, 18, 10 * i))])
    again = check_spikes(subs, topics, db, karachi(D, 20, 30))
    assert [(s.stories, s.queued) for s in again] == [(9, 0)]
    assert deliver_pending(config, db, rules, karachi(D, 20, 31)).sent == 0
    assert len(smtp.messages) == 1
    db.dispose()

    listed = cli_json("--config", str(path), "spikes", "--format", "json")
    assert listed == [
        {"topic": "ttp", "day": D.isoformat(), "stories": 9, "baseline": round(16 / 14, 2)}
    ]
    outbox = cli_json("--config", str(path), "alerts", "list", "--format", "json")
    assert [(a["kind"], a["status"], a["subscription"]) for a in outbox] == [
        ("spike", "sent", "desk@example.org")
    ]
    text_list = run_cli("--config", str(path), "spikes", "--since", "1d")
    assert text_list.returncode == 0 and "no spikes" in text_list.stdout
    text_list = run_cli("--config", str(path), "spikes")
    assert "Asia/Karachi" in text_list.stdout and "ttp (Tehreek-e-Taliban Pakistan)" in (
        text_list.stdout
    )


@pytest.mark.parametrize("since", ["soon", "9999999d"])
def test_spikes_usage_errors(tmp_path: Path, since: str) -> None:
    path = write_config(
        tmp_path / "m.toml",
        {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"}, "catalogue": {"include": []}},
    )
    result = run_cli("--config", str(path), "spikes", "--since", since)
    assert result.returncode == 2 and "--since" in result.stderr, result.stderr


def test_a_crawl_from_cron_alerts_a_spike_once(tmp_path: Path) -> None:
    """`mediawatch crawl` (not only the daemon) runs the spike check after storing articles:
    three new CISMOA stories today against a quiet fortnight is a spike, emailed once however
    often cron runs the crawl."""
    from email import message_from_bytes, policy

    from crawler.demo.site import DemoArticle, FixtureSite
    from tests.articles import open_db, store

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    site = FixtureSite().start()
    try:
        stories = [
            DemoArticle(
                path=f"/delta/news/{i}",
                title=f"CISMOA talks, round {i}",
                author="Staff",
                published=now,
                paragraphs=[
                    f"Officials met to discuss CISMOA in round {i} of the talks on Tuesday. "
                    + " ".join(f"point{i}n{j}" for j in range(60))
                    + ".",
                    f"The CISMOA renewal was the main item, round {i} delegates said. "
                    + " ".join(f"remark{i}n{j}" for j in range(60))
                    + ".",
                ],
            )
            for i in range(3)
        ]
        for story in stories:
            site.add_article(story, "Delta Post")
        site.add_rss("/delta/feed.xml", "Delta Post", stories)
        raw = {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "crawl": {"download_delay": 0, "retries": 0, "timeout": "10s"},
            "email": {"outbox_dir": str(tmp_path / "outbox")},
            "catalogue": {"include": []},
            "outlets": [
                {"id": "delta", "name": "Delta Post", "feeds": [site.url("/delta/feed.xml")]}
            ],
            "subscriptions": [
                {"email": "desk@example.org", "immediate": False, "digest": "off", "spikes": True}
            ],
        }
        path = write_config(tmp_path / "mediawatch.toml", raw)
        config = config_from_dict(raw, str(path))
        db = open_db(config)  # a month of archive, quiet about CISMOA
        store(
            db, config, "delta", "delta.example/old", "Weather", "Rain. " * 60, now - timedelta(30)
        )
        db.dispose()

        first = cli_json("--config", str(path), "crawl", "--format", "json")
        assert first["new_articles"] == 3 and first["alerts_queued"] == 1
        [eml] = (tmp_path / "outbox").glob("*.eml")
        msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert msg["Subject"] == "[mediawatch] Spike: CISMOA: 3 stories"
        assert msg["X-Mediawatch-Spike"] == f"cismoa {now.date().isoformat()}"
        again = cli_json("--config", str(path), "crawl", "--format", "json")
        assert again["alerts_queued"] == 0
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
        listed = cli_json("--config", str(path), "alerts", "list", "--format", "json")
        assert [(a["kind"], a["status"]) for a in listed] == [("spike", "sent")]
    finally:
        site.stop()
